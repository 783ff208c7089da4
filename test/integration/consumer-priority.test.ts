import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import { readPending } from '../helpers/buffer.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

const PREFETCH = 10;
const { config } = testEnv('consumerprio', {
  CONSUMER_PREFETCH: String(PREFETCH),
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '100000',
  PERSIST_DELAY_MS: '600000',
});

describe('priority: transactional before promotional', () => {
  let producer: ProducerService;
  let consumer: ConsumerService | undefined;
  let redis: Redis;
  before(async () => {
    producer = await startProducer(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
  });
  after(async () => {
    await producer.close();
    await consumer?.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`http://127.0.0.1:${producer.port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(res.status === 200 || res.status === 202, `${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  it('a SECURITY event queued behind 1,000 PROMO events is consumed among the first', async () => {
    for (let batch = 0; batch < 2; batch++) {
      const events = Array.from({ length: 500 }, (_, i) => ({
        type: 'PROMO',
        targetId: 'prio-user',
        campaignId: `camp-${batch}-${i}`,
        text: 'Spring sale',
      }));
      const result = await post('/events/batch', { events });
      assert.equal(result.accepted, 500);
    }
    const { eventId } = await post('/events', { type: 'SECURITY', targetId: 'prio-user', text: 'password changed' });

    consumer = await startConsumer(config, testLogger);
    const all = await eventually(
      async () => {
        const p = await readPending(redis, 'prio-user', 2000);
        return p.total === 1001 ? p.notifications : undefined;
      },
      { what: 'all 1,001 notifications buffered', timeoutMs: 60_000 },
    );
    const security = all.find((n) => n.eventIds[0] === eventId);
    assert.ok(security);
    // seq is handed out in processing order: only what was already prefetched may precede it.
    assert.ok(security.seq <= 2 * PREFETCH, `SECURITY was number ${security.seq} of 1001`);
    assert.equal(all[0]?.id, security.id, 'and it replays first');
  });
});

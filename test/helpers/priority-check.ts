import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import type { Config } from '../../shared/config.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readPending } from './buffer.js';
import { testLogger } from './logger.js';
import { eventually } from './wait.js';

/** PROMO events per POST /events/batch: the batch size the check queues its backlog in. */
const BATCH_SIZE = 500;

export interface PriorityCheck {
  /** How many batches of 500 PROMO events are queued before the SECURITY event. */
  promoBatches: number;
  /** The recipient of every event: one inbox to read the processing order from. */
  userId: string;
  /** The consumer's CONSUMER_PREFETCH in `config`: only what was prefetched may precede SECURITY. */
  prefetch: number;
  /** How long the consumer may take to buffer the whole backlog. */
  timeoutMs: number;
}

/**
 * The check that events queues honour priority, for any queue type: a backlog of PROMO events
 * is queued with no consumer running, then one SECURITY event; a consumer started afterwards
 * must process SECURITY among the first (its seq, handed out in processing order, is within
 * what the consumer had already prefetched) and it must replay first.
 *
 * Registers hooks in the calling describe: a producer and a Redis connection before its tests,
 * and after them those and the consumer the check started are closed. Cleaning the test's
 * resources is left to the caller, which may share them with other tests.
 */
export function transactionalOvertakesPromotional(config: Config): (check: PriorityCheck) => Promise<void> {
  let producer: ProducerService | undefined;
  let consumer: ConsumerService | undefined;
  let redis: Redis | undefined;
  before(async () => {
    producer = await startProducer(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
  });
  after(async () => {
    await producer?.close();
    await consumer?.close();
    if (redis) await closeRedis(redis);
  });

  async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`http://127.0.0.1:${producer!.port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(res.status === 200 || res.status === 202, `${path}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  return async ({ promoBatches, userId, prefetch, timeoutMs }) => {
    for (let batch = 0; batch < promoBatches; batch++) {
      const events = Array.from({ length: BATCH_SIZE }, (_, i) => ({
        type: 'PROMO',
        targetId: userId,
        campaignId: `camp-${batch}-${i}`,
        text: 'Spring sale',
      }));
      const result = await post('/events/batch', { events });
      assert.equal(result.accepted, BATCH_SIZE);
    }
    const { eventId } = await post('/events', { type: 'SECURITY', targetId: userId, text: 'password changed' });

    const total = promoBatches * BATCH_SIZE + 1;
    consumer = await startConsumer(config, testLogger);
    const all = await eventually(
      async () => {
        const p = await readPending(redis!, userId, total + 1);
        return p.total === total ? p.notifications : undefined;
      },
      { what: `all ${total.toLocaleString('en-US')} notifications buffered`, timeoutMs },
    );
    const security = all.find((n) => n.eventIds[0] === eventId);
    assert.ok(security);
    // seq is handed out in processing order: only what was already prefetched may precede it.
    assert.ok(security.seq <= 2 * prefetch, `SECURITY was number ${security.seq} of ${total}`);
    assert.equal(all[0]?.id, security.id, 'and it replays first');
  };
}

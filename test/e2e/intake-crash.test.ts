import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { eventsQueueDepth } from '../helpers/events-queues.js';
import { keys } from '../../shared/keys.js';
import type { PersistBatchMessage } from '../../shared/messages.js';
import { decodeNotification, type Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, getMany, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

/*
 * The consumer runs as a real process (from source through tsx, so this test does not depend
 * on everyone's code building) and is killed with SIGKILL while it is busy: some events are
 * then buffered but not yet acked, and come back to the restarted consumer as redeliveries.
 */
const TOTAL = 2000;
const { env, config } = testEnv('intakecrash', { PERSIST_DELAY_MS: '600000', CONSUMER_PREFETCH: '64' });
const topology = createTopology(config);

function startConsumerProcess(): { proc: ChildProcess; output(): string } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'consumer/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = [];
  proc.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
  proc.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  return { proc, output: () => chunks.join('') };
}

async function kill(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill(signal);
  await exited;
}

describe('SIGKILL of the consumer between buffering and acking', () => {
  let producer: ProducerService;
  let redis: Redis;
  const children: ChildProcess[] = [];
  before(async () => {
    producer = await startProducer(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
  });
  after(async () => {
    for (const child of children) await kill(child, 'SIGKILL');
    await producer.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  async function bufferedNotifications(): Promise<Notification[]> {
    const found: Notification[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${config.redis.keyPrefix}notif:*`, 'COUNT', 1000);
      cursor = next;
      // Full names back; the client adds the prefix again.
      const names = batch.map((k) => k.slice(config.redis.keyPrefix.length));
      const raw = await getMany(redis, names);
      for (const r of raw) if (r) found.push(decodeNotification(r));
    } while (cursor !== '0');
    return found;
  }

  it('restarted, it leaves exactly one notification and a persist job for every event', async (t) => {
    const eventIds: Array<{ userId: string; eventId: string }> = [];
    for (let batch = 0; batch < TOTAL / 500; batch++) {
      const events = Array.from({ length: 500 }, (_, i) => {
        const n = batch * 500 + i;
        return {
          type: 'LIKE',
          actorId: `actor${n}`,
          targetId: `crash-user${n % 50}`,
          postId: `post${n}`,
          eventId: `crash-${n}`,
        };
      });
      const res = await fetch(`http://127.0.0.1:${producer.port}/events/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      const body = (await res.json()) as { accepted: number };
      assert.equal(body.accepted, 500);
      eventIds.push(...events.map((e) => ({ userId: e.targetId, eventId: e.eventId })));
    }

    const first = startConsumerProcess();
    children.push(first.proc);
    const bufferedAtKill = await eventually(
      async () => {
        const n = (await bufferedNotifications()).length;
        return n >= 100 ? n : undefined;
      },
      { what: `the first consumer to be busy\n${first.output()}`, intervalMs: 5, timeoutMs: 60_000 },
    );
    await kill(first.proc, 'SIGKILL');
    assert.ok(bufferedAtKill < TOTAL, 'killed mid-stream');

    const second = startConsumerProcess();
    children.push(second.proc);
    await eventually(
      async () =>
        (
          await getMany(
            redis,
            eventIds.map((e) => keys.eventSeen(e.userId, e.eventId)),
          )
        ).filter((v) => v !== null).length === TOTAL,
      {
        what: 'every event to be processed after the restart',
        timeoutMs: 120_000,
      },
    );
    await kill(second.proc, 'SIGTERM');

    const notifications = await bufferedNotifications();
    assert.equal(notifications.length, TOTAL, 'one notification per event, no more');
    const perEvent = new Map<string, number>();
    for (const n of notifications) for (const id of n.eventIds) perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    assert.deepEqual([...perEvent.keys()].sort(), eventIds.map((e) => e.eventId).sort());
    assert.ok([...perEvent.values()].every((count) => count === 1));

    const conn = await amqplib.connect(config.rabbitmq.url);
    try {
      const ch = await conn.createChannel();
      assert.equal(await eventsQueueDepth(ch, topology), 0, 'every event acked');
      const jobs = new Map<string, number>();
      for (;;) {
        const msg = await ch.get(topology.persistDelayQueue, { noAck: true });
        if (msg === false) break;
        for (const { id } of (JSON.parse(msg.content.toString()) as PersistBatchMessage).notifications) {
          jobs.set(id, (jobs.get(id) ?? 0) + 1);
        }
      }
      for (const n of notifications) assert.ok(jobs.has(n.id), `a persist job for ${n.id}`);
      assert.equal(jobs.size, TOTAL, 'persist jobs only for notifications that exist');
      const repeated = [...jobs.values()].filter((c) => c > 1).length;
      t.diagnostic(`buffered at kill: ${bufferedAtKill}; notifications whose hand-off was repeated: ${repeated}`);
    } finally {
      await conn.close();
    }
  });
});

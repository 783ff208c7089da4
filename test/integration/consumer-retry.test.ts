import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type amqplib from 'amqplib';
import { ATTEMPT_HEADER, DEAD_REASON_HEADER } from '../../shared/amqp/failure-headers.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { keys } from '../../shared/keys.js';
import { bufferNotification, dedupeMarks, readPending } from '../helpers/buffer.js';
import type { PersistBatchMessage } from '../../shared/messages.js';
import type { Notification } from '../../shared/notification.js';
import { testEnv } from '../helpers/config.js';
import { consumerBehindRedisProxy, type ProxiedConsumer } from '../helpers/proxied-consumer.js';
import { eventually } from '../helpers/wait.js';

const test = testEnv('consumerretry', {
  RETRY_BASE_DELAY_MS: '200',
  CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '3',
  PERSIST_DELAY_MS: '600000',
  // These tests are about the ladder itself: no hold for Redis (consumer-redis-gate.test.ts is).
  CONSUMER_REDIS_OUTAGE_HOLD_MS: '0',
});
const { config } = test;
const topology = createTopology(config);

// A TCP proxy stands in for the one Redis server; a cluster's nodes announce their own addresses,
// so its outage is the failover test's (test/cluster/redis-failover.test.ts).
const onCluster = config.redis.cluster ? 'cuts a single Redis server through a TCP proxy' : false;
describe('consumer retries and crash recovery', { skip: onCluster }, () => {
  let c: ProxiedConsumer;
  before(async () => (c = await consumerBehindRedisProxy(test)));
  after(() => c.close());
  const metric = (label: string) => c.metric('consumer_events_processed_total', label);

  it('retries through the TTL queues while Redis is down, and buffers once it is back', async () => {
    await c.proxy.cut();
    await c.publish({ type: 'FOLLOW', actorId: 'user1', targetId: 'retry-user', eventId: 'retry-1' });
    await eventually(async () => (await metric('outcome="retried"')) >= 1, { what: 'a retry' });
    await c.proxy.start();
    const list = await eventually(
      async () => {
        const p = await readPending(c.redis, 'retry-user', 10);
        return p.total === 1 ? p.notifications : undefined;
      },
      { what: 'the event to be buffered after Redis came back' },
    );
    assert.deepEqual(list[0]?.eventIds, ['retry-1']);
  });

  /** The dead letters of `eventId` in the events dead queue, taken off it. */
  async function takeDead(eventId: string): Promise<amqplib.GetMessage[]> {
    const found: amqplib.GetMessage[] = [];
    for (;;) {
      const msg = await c.ch.get(topology.eventsDeadQueue, { noAck: true });
      if (!msg) return found;
      if ((JSON.parse(msg.content.toString()) as { eventId?: string }).eventId === eventId) found.push(msg);
    }
  }

  it('waits on the last rung while Redis is down for longer than the whole ladder, then buffers: nothing is dead-lettered', async () => {
    const rungs = topology.eventsRetryQueues.social.length;
    const retriedBefore = await metric('outcome="retried"');
    const deadBefore = await metric('outcome="dead_lettered"');
    await c.proxy.cut();
    await c.publish({ type: 'FOLLOW', actorId: 'user2', targetId: 'outage-user', eventId: 'outage-long' });
    // Two attempts past the ladder: the outage outlasted every rung. Before the fix the event was
    // dead-lettered after its last rung instead (stop waiting then, and say so below).
    await eventually(
      async () =>
        (await metric('outcome="retried"')) >= retriedBefore + rungs + 2 ||
        (await metric('outcome="dead_lettered"')) > deadBefore,
      { what: 'the event to be retried past the ladder', timeoutMs: 60_000 },
    );
    const deadDuringOutage = await metric('outcome="dead_lettered"');
    await c.proxy.start();
    assert.equal(deadDuringOutage, deadBefore, 'the outage dead-lettered the event');
    const list = await eventually(
      async () => {
        const p = await readPending(c.redis, 'outage-user', 10);
        return p.total === 1 ? p.notifications : undefined;
      },
      { what: 'the event to be buffered after Redis came back' },
    );
    assert.deepEqual(list[0]?.eventIds, ['outage-long']);
    assert.equal((await c.ch.checkQueue(topology.eventsDeadQueue)).messageCount, 0, 'the dead queue is empty');
  });

  it('dead-letters with the error once every retry was used when the event fails on its own (a Redis script error)', async () => {
    // The recipient's seq counter holds no integer: commit.lua's INCR fails for every event of
    // this user, a ReplyError whatever the attempt, while Redis serves everyone else.
    await c.redis.set(keys.seq('script-error-user'), 'not-a-number');
    await c.publish({
      type: 'LIKE',
      actorId: 'user4',
      targetId: 'script-error-user',
      postId: 'post4',
      eventId: 'script-error',
    });
    const dead = await eventually(async () => (await takeDead('script-error'))[0], {
      what: 'the dead letter',
      timeoutMs: 30_000,
    });
    const rungs = topology.eventsRetryQueues.social.length;
    assert.match(
      String(dead.properties.headers?.[DEAD_REASON_HEADER]),
      new RegExp(`^retries exhausted after ${rungs} attempts: ERR value is not an integer`),
    );
    assert.equal(dead.properties.headers?.[ATTEMPT_HEADER], rungs);
    await c.redis.del(keys.seq('script-error-user'));
  });

  it('a redelivered event that was already buffered repeats the hand-off instead of creating a second notification', async () => {
    // The state a crash after buffering leaves: notification and marks in Redis, no persist job.
    const event = {
      type: 'LIKE' as const,
      actorId: 'user3',
      targetId: 'crash-state',
      postId: 'post1',
      eventId: 'crashed-1',
    };
    const n: Notification = {
      id: '0190aaaa-0000-7000-8000-000000000001',
      userId: 'crash-state',
      seq: 1,
      type: 'LIKE',
      priority: 5,
      actors: ['user3'],
      actorCount: 1,
      objectId: 'post1',
      message: 'user3 liked your post',
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: ['crashed-1'],
    };
    await bufferNotification(
      c.redis,
      n,
      60,
      dedupeMarks(event, n.id, { eventWindowSeconds: 60, actionWindowMs: 60_000 }),
    );
    await c.publish(event);
    const job = await eventually(
      async () => {
        const msg = await c.ch.get(topology.persistDelayQueue, { noAck: true });
        const body = msg ? (JSON.parse(msg.content.toString()) as PersistBatchMessage) : undefined;
        return body?.notifications.find((carried) => carried.id === n.id);
      },
      { what: 'the persist job to be published again' },
    );
    assert.deepEqual(job, n);
    const pending = await readPending(c.redis, 'crash-state', 10);
    assert.deepEqual(
      pending.notifications.map((p) => p.id),
      [n.id],
      'no second notification',
    );
  });
});

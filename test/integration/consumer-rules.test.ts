import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { DEAD_REASON_HEADER } from '../../shared/amqp/failure-headers.js';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import { seedDemoData } from '../../seed/seed.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { readPending } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import type { Notification } from '../../shared/notification.js';
import { priorityOf } from '../../shared/priority.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('consumerrules', {
  RATE_LIMIT_ACTOR_PER_MINUTE: '1',
  PERSIST_DELAY_MS: '600000',
});
const topology = createTopology(config);

describe('consumer rules, end to end from HTTP to the Redis buffer', () => {
  let producer: ProducerService;
  let consumer: ConsumerService;
  let redis: Redis;
  let amqpConn: amqplib.ChannelModel;
  let amqpCh: amqplib.ConfirmChannel;

  before(async () => {
    const mongo = await connectMongo(config, testLogger);
    redis = await connectRedis(config, testLogger, 'test');
    await seedDemoData(models(mongo), redis);
    await mongo.close();
    producer = await startProducer(config, testLogger);
    consumer = await startConsumer(config, testLogger);
    amqpConn = await amqplib.connect(config.rabbitmq.url);
    amqpCh = await amqpConn.createConfirmChannel();
  });
  after(async () => {
    await producer.close();
    await consumer.close();
    await closeRedis(redis);
    await amqpConn.close();
    await cleanupTestResources(config);
  });

  async function post(body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { eventId: string }).eventId;
  }

  async function pending(userId: string): Promise<Notification[]> {
    return (await readPending(redis, userId, 1000)).notifications;
  }

  async function metric(name: string, label: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${consumer.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  /** Every event posted so far has been handled (acked) by the consumer. */
  async function settled(expectedProcessed: number): Promise<void> {
    await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${consumer.port}/metrics`)).text();
        const total = text
          .split('\n')
          .filter((l) => l.startsWith('consumer_events_processed_total{'))
          .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
        return total >= expectedProcessed;
      },
      { what: `${expectedProcessed} events processed` },
    );
  }
  let processed = 0;

  it('buffers a readable notification with the seeded name, a seq, its priority, and schedules persist + timeline', async () => {
    const eventId = await post({ type: 'LIKE', actorId: 'user1', targetId: 'r-basic', postId: 'post3' });
    processed += 1;
    const [n] = await eventually(
      async () => {
        const list = await pending('r-basic');
        return list.length === 1 ? list : undefined;
      },
      { what: 'the notification to be buffered' },
    );
    assert.ok(n);
    assert.equal(n.message, 'Ada liked your post');
    assert.deepEqual(
      [n.userId, n.type, n.seq, n.priority, n.objectId, n.actorCount],
      ['r-basic', 'LIKE', 1, priorityOf('LIKE'), 'post3', 1],
    );
    assert.deepEqual(n.actors, ['user1']);
    assert.deepEqual(n.eventIds, [eventId]);
    assert.equal(await redis.get(keys.eventSeen('r-basic', eventId)), n.id, 'the eventId mark names the notification');
    assert.ok(await redis.hget(keys.timeline('r-basic', n.id), 'buffered'));
    // The hand-off follows the commit (by up to PERSIST_HANDOFF_LINGER_MS): the job arrives shortly after.
    await eventually(async () => (await amqpCh.checkQueue(topology.persistDelayQueue)).messageCount >= 1, {
      what: 'the persist job to wait in the delay queue',
    });
  });

  it('an unknown actor is named by its id, not an error', async () => {
    await post({ type: 'FOLLOW', actorId: 'stranger42', targetId: 'r-unknown' });
    processed += 1;
    const [n] = await eventually(
      async () => {
        const list = await pending('r-unknown');
        return list.length === 1 ? list : undefined;
      },
      { what: 'the follow notification' },
    );
    assert.equal(n?.message, 'stranger42 started following you');
  });

  it('a retried POST with the same Idempotency-Key yields one notification', async () => {
    for (let i = 0; i < 3; i++)
      await post(
        { type: 'COMMENT', actorId: 'user2', targetId: 'r-retry', postId: 'post1' },
        { 'Idempotency-Key': 'retry-key' },
      );
    processed += 3;
    await settled(processed);
    const list = await pending('r-retry');
    assert.equal(list.length, 1);
    assert.deepEqual(list[0]?.eventIds, ['retry-key']);
  });

  it('10 identical events (different eventIds) → 1 notification, the rest counted as duplicates', async () => {
    const before = await metric('consumer_events_processed_total', 'outcome="duplicate"');
    await Promise.all(
      Array.from({ length: 10 }, () => post({ type: 'SHARE', actorId: 'user3', targetId: 'r-ten', postId: 'post9' })),
    );
    processed += 10;
    await settled(processed);
    assert.equal((await pending('r-ten')).length, 1);
    assert.equal((await metric('consumer_events_processed_total', 'outcome="duplicate"')) - before, 9);
  });

  it('2 events from the same actor over a limit of 1/min → the excess is counted as limited', async () => {
    const before = await metric('consumer_events_limited_total', 'scope="actor"');
    await post({ type: 'LIKE', actorId: 'user4', targetId: 'r-limit-a', postId: 'post1' });
    await post({ type: 'LIKE', actorId: 'user4', targetId: 'r-limit-b', postId: 'post2' });
    processed += 2;
    await settled(processed);
    const buffered = (await pending('r-limit-a')).length + (await pending('r-limit-b')).length;
    assert.equal(buffered, 1);
    assert.equal((await metric('consumer_events_limited_total', 'scope="actor"')) - before, 1);
  });

  it('SECURITY events are never limited', async () => {
    for (let i = 0; i < 5; i++)
      await post({ type: 'SECURITY', actorId: 'user5', targetId: 'r-sec', text: `sign-in ${i}` });
    processed += 5;
    await settled(processed);
    const list = await pending('r-sec');
    assert.equal(list.length, 5);
    assert.ok(
      list.every((n) => n.priority === priorityOf('SECURITY') && n.message.startsWith('Security alert: sign-in')),
    );
  });

  it('a social event to oneself produces no notification', async () => {
    const before = await metric('consumer_events_processed_total', 'outcome="self"');
    await post({ type: 'FOLLOW', actorId: 'r-self', targetId: 'r-self' });
    processed += 1;
    await settled(processed);
    assert.equal((await pending('r-self')).length, 0);
    assert.equal((await metric('consumer_events_processed_total', 'outcome="self"')) - before, 1);
  });

  it('poison messages land in the dead-letter queue with their reason; the consumer keeps consuming', async () => {
    const send = (body: string, messageId: string) =>
      new Promise<void>((resolve, reject) =>
        amqpCh.sendToQueue(topology.eventsQueues.social, Buffer.from(body), { persistent: true, messageId }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    // Each carries a value that must reach neither a log line nor a dead-letter header.
    await send('{not json secret-body', 'poison-json');
    await send(JSON.stringify({ type: 'LIKE', actorId: 'user1 secret-actor', targetId: 'r-poison' }), 'poison-schema');
    await send(
      JSON.stringify({ type: 'LIKE', actorId: 'user6', targetId: 'r-poison', postId: 'post1' }),
      'after-poison',
    );
    processed += 3;
    await settled(processed);
    const dead: amqplib.GetMessage[] = [];
    await eventually(
      async () => {
        const msg = await amqpCh.get(topology.eventsDeadQueue, { noAck: true });
        if (msg) dead.push(msg);
        return dead.length === 2;
      },
      { what: 'two dead letters' },
    );
    const reasons = Object.fromEntries(
      dead.map((m) => [m.properties.messageId as string, String(m.properties.headers?.[DEAD_REASON_HEADER])]),
    );
    assert.equal(reasons['poison-json'], 'invalid_json: the body is not JSON');
    assert.match(reasons['poison-schema'] ?? '', /^invalid_event: actorId: "actorId" fails to match/);
    assert.match(reasons['poison-schema'] ?? '', /postId: "postId" is required/);
    for (const reason of Object.values(reasons)) assert.doesNotMatch(reason, /secret/, 'no value in the reason');
    assert.equal(
      dead.find((m) => m.properties.messageId === 'poison-json')?.content.toString(),
      '{not json secret-body',
      'the original body is kept',
    );
    const list = await pending('r-poison');
    assert.deepEqual(
      list.map((n) => n.eventIds[0]),
      ['after-poison'],
    );
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as startProducer, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog, testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * The request id follows the request past the producer (docs/operations.md "Access log and
 * request id"): the event's message carries it as its correlationId, and the consumer's lines
 * about that event name it. Shown with lines the consumer writes about single events: "event
 * rate limited" (limits of 1 a minute per actor and per recipient) and "event dead-lettered".
 */

const INTAKE_KEY = 'trace-intake-key-0123456789abcdef-0123456789';
const { config } = testEnv('reqtrace', {
  INTAKE_API_KEYS: INTAKE_KEY,
  RATE_LIMIT_ACTOR_PER_MINUTE: '1',
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '1',
});
const topology = createTopology(config);
type Line = Record<string, unknown>;

describe('the request id in the consumer’s lines about the event', () => {
  const consumerLog = capturedLog('debug', 'consumer');
  let producer: ProducerService;
  let consumer: ConsumerService;
  let redis: Redis;
  let base: string;

  before(async () => {
    producer = await startProducer(config, capturedLog('debug', 'producer').logger);
    consumer = await startConsumer(config, consumerLog.logger);
    redis = await connectRedis(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
  });
  after(async () => {
    await closeRedis(redis);
    await consumer.close();
    await producer.close();
    await cleanupTestResources(config);
  });

  const post = async (path: string, body: unknown, requestId: string, contentType = 'application/json') => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `ApiKey ${INTAKE_KEY}`, 'x-request-id': requestId },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${path}: ${res.status} ${text}`);
    assert.equal(res.headers.get('x-request-id'), requestId);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const limitedLine = (eventId: string) =>
    eventually(() => consumerLog.lines().find((l: Line) => l.msg === 'event rate limited' && l.eventId === eventId), {
      timeoutMs: 10_000,
      what: `the consumer's "event rate limited" line of ${eventId}`,
    });
  const like = (actorId: string, n: number) => ({ type: 'LIKE', actorId, targetId: `owner-${n}`, postId: `p-${n}` });

  it('POST /events on both intake paths: the fast path (application/json) and Express (charset given)', async () => {
    await post('/events', like('actor-a', 1), 'warm-up-a'); // the actor's one event this minute
    const fast = await post('/events', like('actor-a', 2), 'trace-fast-1');
    const express = await post('/events', like('actor-a', 3), 'trace-express-1', 'application/json; charset=utf-8');
    assert.equal((await limitedLine(String(fast.eventId))).requestId, 'trace-fast-1');
    assert.equal((await limitedLine(String(express.eventId))).requestId, 'trace-express-1');
  });

  it('POST /like and POST /events/batch: every event of the request carries its id', async () => {
    await post('/events', like('actor-b', 11), 'warm-up-b');
    const legacy = await post('/like', { actorId: 'actor-b', targetId: 'owner-9', postId: 'p-9' }, 'trace-like-1');
    const batch = await post('/events/batch', { events: [like('actor-b', 4), like('actor-b', 5)] }, 'trace-batch-1');
    assert.equal((await limitedLine(String(legacy.eventId))).requestId, 'trace-like-1');
    const results = batch.results as Array<{ eventId: string }>;
    assert.equal(results.length, 2);
    for (const r of results) assert.equal((await limitedLine(r.eventId)).requestId, 'trace-batch-1');
  });

  it('a buffered event’s debug line names the notification it became (the eventId → notificationId bridge)', async () => {
    const event = { ...like('actor-d', 21), eventId: 'trace-buffered-event-1' };
    await post('/events', event, 'trace-buffered-1');
    const bufferedLine = (outcome: string) =>
      eventually(
        () =>
          consumerLog
            .lines()
            .find(
              (l: Line) => l.msg === 'notification buffered' && l.eventId === event.eventId && l.outcome === outcome,
            ),
        { timeoutMs: 10_000, what: `the consumer's "notification buffered" line (${outcome}) of ${event.eventId}` },
      );
    const line = await bufferedLine('created');
    assert.equal(line.userId, 'owner-21');
    assert.equal(line.requestId, 'trace-buffered-1');
    assert.equal(typeof line.notificationId, 'string');
    const buffered = await redis.get(keys.notification('owner-21', String(line.notificationId)));
    assert.ok(buffered, 'the line names the buffered notification');
    assert.deepEqual((JSON.parse(buffered) as { eventIds: string[] }).eventIds, [event.eventId]);
    // The same event again (a client's retry) is a duplicate of that same notification.
    await post('/events', event, 'trace-buffered-2');
    const again = await bufferedLine('duplicate');
    assert.equal(again.notificationId, line.notificationId);
    assert.equal(again.requestId, 'trace-buffered-2');
  });

  it('a POST fanned out to followers: the fan-out pages carry it to each follower’s event', async () => {
    for (const follower of ['fan-1', 'fan-2'])
      await post(`/users/${follower}/follows`, { targetId: 'poster' }, `follow-${follower}`);
    // A fan-out is not counted against its actor: fan-1's one event a minute is used up first.
    await post('/events', { type: 'LIKE', actorId: 'actor-c', targetId: 'fan-1', postId: 'p-fan' }, 'warm-up-c');
    const posted = await post('/events', { type: 'POST', actorId: 'poster', postId: 'post-1' }, 'trace-post-1');
    const line = await eventually(
      () =>
        consumerLog
          .lines()
          .find((l: Line) => l.msg === 'event rate limited' && l.eventId === `${String(posted.eventId)}:fan-1`),
      { timeoutMs: 10_000, what: 'fan-1’s "event rate limited" line' },
    );
    assert.equal(line.requestId, 'trace-post-1');
  });

  it('a dead-lettered message names its correlationId when it is a request id, and nothing else', async () => {
    const conn = await amqplib.connect(config.rabbitmq.url);
    try {
      const ch = await conn.createConfirmChannel();
      const send = (eventId: string, correlationId: string) =>
        new Promise<void>((resolve, reject) =>
          ch.sendToQueue(
            topology.eventsQueues.social,
            Buffer.from('{"type":"LIKE","actorId":'),
            { persistent: true, messageId: eventId, correlationId },
            (err) => (err ? reject(err) : resolve()),
          ),
        );
      await send('poison-1', 'trace-poison-1');
      await send('poison-2', 'not a "request id"\n');
      const deadLine = (eventId: string) =>
        eventually(
          () => consumerLog.lines().find((l: Line) => l.msg === 'event dead-lettered' && l.eventId === eventId),
          {
            timeoutMs: 10_000,
            what: `the dead-letter line of ${eventId}`,
          },
        );
      assert.equal((await deadLine('poison-1')).requestId, 'trace-poison-1');
      assert.equal(
        (await deadLine('poison-2')).requestId,
        undefined,
        'a correlationId that is no request id is not logged',
      );
    } finally {
      await conn.close();
    }
  });
});

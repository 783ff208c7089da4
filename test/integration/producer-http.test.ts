import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology, eventsQueueList } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { priorityOf } from '../../shared/priority.js';
import { closeRedis, connectRedis } from '../../shared/redis.js';
import { seedDemoData } from '../../seed/seed.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const { env, config } = testEnv('producerhttp', { MAX_BODY_BYTES: '2048', BATCH_MAX_EVENTS: '5' });
const topology = createTopology(config);

type Json = Record<string, unknown>;

async function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

/** Takes every message currently in the events queues (the producer's output), highest category first. */
async function drainEvents(): Promise<amqplib.GetMessage[]> {
  const conn = await amqplib.connect(config.rabbitmq.url);
  try {
    const ch = await conn.createChannel();
    const out: amqplib.GetMessage[] = [];
    for (const queue of eventsQueueList(topology)) {
      for (;;) {
        const msg = await ch.get(queue, { noAck: true });
        if (msg === false) break;
        out.push(msg);
      }
    }
    await ch.close();
    return out;
  } finally {
    await conn.close();
  }
}

const like = { actorId: 'user1', targetId: 'user2', postId: 'post3', type: 'LIKE' };

describe('producer HTTP intake', () => {
  let service: ProducerService;
  before(async () => {
    service = await bootstrap(config, testLogger);
    const mongo = await connectMongo(config, testLogger);
    const redis = await connectRedis(config, testLogger, 'seed');
    await seedDemoData(models(mongo), redis);
    await mongo.close();
    await closeRedis(redis);
  });
  after(async () => {
    await service.close();
    await cleanupTestResources(config);
  });

  it('202 after the broker confirmed a persistent, prioritized message whose messageId is the eventId', async () => {
    await drainEvents();
    const res = await post(service.port, '/events', {
      ...like,
      type: 'SECURITY',
      text: 'new sign-in',
      postId: undefined,
    });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'accepted');
    assert.match(String(res.body.eventId), /^[0-9a-f-]{36}$/);
    const [msg, ...rest] = await drainEvents();
    assert.equal(rest.length, 0);
    assert.ok(msg);
    assert.equal(msg.properties.messageId, res.body.eventId);
    assert.equal(msg.properties.deliveryMode, 2, 'persistent');
    assert.equal(msg.properties.priority, priorityOf('SECURITY'));
    assert.equal(JSON.parse(msg.content.toString()).eventId, res.body.eventId);
  });

  it('takes the eventId from the body, else the Idempotency-Key header; a repeat answers the same id', async () => {
    const fromBody = await post(service.port, '/events', { ...like, eventId: 'body-key-1' });
    assert.deepEqual(fromBody, { ...fromBody, status: 202, body: { eventId: 'body-key-1', status: 'accepted' } });
    const first = await post(service.port, '/events', like, { 'Idempotency-Key': 'hdr-key-1' });
    const again = await post(service.port, '/events', like, { 'Idempotency-Key': 'hdr-key-1' });
    assert.deepEqual([first.status, first.body], [202, { eventId: 'hdr-key-1', status: 'accepted' }]);
    assert.deepEqual([again.status, again.body], [202, { eventId: 'hdr-key-1', status: 'accepted' }]);
    const both = await post(service.port, '/events', { ...like, eventId: 'same' }, { 'Idempotency-Key': 'same' });
    assert.equal(both.status, 202);
  });

  it('422 idempotency_key_reused when a key (or body eventId) is reused for a different event; nothing published', async () => {
    await drainEvents();
    const order = (orderId: string) => ({ type: 'ORDER', targetId: 'user2', orderId, text: 'has shipped' });
    const first = await post(service.port, '/events', order('o-1'), { 'Idempotency-Key': 'reuse-key-1' });
    assert.equal(first.status, 202);
    const retry = await post(service.port, '/events', order('o-1'), { 'Idempotency-Key': 'reuse-key-1' });
    assert.deepEqual([retry.status, retry.body], [202, { eventId: 'reuse-key-1', status: 'accepted' }]);
    const reused = await post(service.port, '/events', order('o-2'), { 'Idempotency-Key': 'reuse-key-1' });
    assert.equal(reused.status, 422);
    assert.equal(reused.body.error, 'idempotency_key_reused');
    assert.match(String(reused.body.message), /already used for a different event/);
    assert.doesNotMatch(JSON.stringify(reused.body), /reuse-key-1|o-2/, 'no value echoed');
    // The same key as a body eventId, and on the legacy route: one eventId, one event.
    const asBody = await post(service.port, '/events', { ...order('o-3'), eventId: 'reuse-key-1' });
    assert.equal(asBody.status, 422);
    const legacy = await post(service.port, '/like', like, { 'Idempotency-Key': 'reuse-key-1' });
    assert.equal(legacy.status, 422);
    const published = (await drainEvents()).map((m) => JSON.parse(m.content.toString()) as Json);
    assert.deepEqual(
      published.map((e) => [e.eventId, e.orderId]),
      [
        ['reuse-key-1', 'o-1'],
        ['reuse-key-1', 'o-1'],
      ],
      'the first event and its retry; never the others',
    );
  });

  it('400 when the body eventId and the Idempotency-Key header disagree', async () => {
    const res = await post(service.port, '/events', { ...like, eventId: 'a' }, { 'Idempotency-Key': 'b' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation_failed');
    assert.deepEqual(
      (res.body.details as Json[]).map((d) => d.field),
      ['eventId'],
    );
  });

  it('POST /like accepts the legacy body, with or without "type"', async () => {
    const withType = await post(service.port, '/like', like);
    const withoutType = await post(service.port, '/like', { actorId: 'user1', targetId: 'user2', postId: 'post3' });
    assert.equal(withType.status, 202);
    assert.equal(withoutType.status, 202);
    const wrongType = await post(service.port, '/like', { ...like, type: 'FOLLOW' });
    assert.equal(wrongType.status, 400);
  });

  it('400 lists every Joi problem with its field, and rejects unknown fields', async () => {
    const res = await post(service.port, '/events', { type: 'COMMENT', actorId: 'user1', targetId: '', extra: 1 });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'validation_failed');
    const fields = (res.body.details as Json[]).map((d) => d.field).sort();
    assert.deepEqual(fields, ['extra', 'postId', 'targetId']);
    for (const d of res.body.details as Json[]) assert.equal(typeof d.message, 'string');

    const unknownType = await post(service.port, '/events', { type: 'POKE', actorId: 'a', targetId: 'b' });
    assert.equal(unknownType.status, 400);
    assert.deepEqual(
      (unknownType.body.details as Json[]).map((d) => d.field),
      ['type'],
    );

    const notObject = await post(service.port, '/events', '[1,2]');
    assert.equal(notObject.status, 400);
  });

  it('400 invalid_json for a malformed body', async () => {
    const res = await post(service.port, '/events', '{"type": "LIKE",');
    assert.deepEqual([res.status, res.body.error], [400, 'invalid_json']);
  });

  it('413 over the body limit', async () => {
    const res = await post(service.port, '/events', { ...like, text: 'x'.repeat(4000) });
    assert.deepEqual([res.status, res.body.error], [413, 'payload_too_large']);
  });

  it('415 when the body is not JSON', async () => {
    const res = await fetch(`http://127.0.0.1:${service.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'actorId=user1',
    });
    assert.equal(res.status, 415);
    assert.equal(((await res.json()) as Json).error, 'unsupported_media_type');
  });

  it('POST /events/batch validates and publishes each item, reporting per item', async () => {
    await drainEvents();
    const res = await post(service.port, '/events/batch', {
      events: [like, { type: 'FOLLOW', actorId: 'user3' }, { ...like, eventId: 'batch-item-3' }],
    });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.accepted, res.body.rejected, res.body.failed], [2, 1, 0]);
    const results = res.body.results as Json[];
    assert.equal(results[0]?.status, 'accepted');
    assert.equal(results[1]?.status, 'rejected');
    assert.deepEqual(
      (results[1]?.details as Json[]).map((d) => d.field),
      ['targetId'],
    );
    assert.deepEqual(results[2], { index: 2, status: 'accepted', eventId: 'batch-item-3' });
    const published = (await drainEvents()).map((m) => m.properties.messageId as string).sort();
    assert.deepEqual(published, [results[0]?.eventId, 'batch-item-3'].sort());

    const tooMany = await post(service.port, '/events/batch', { events: Array.from({ length: 6 }, () => like) });
    assert.equal(tooMany.status, 400);
    assert.deepEqual(
      (tooMany.body.details as Json[]).map((d) => d.field),
      ['events'],
    );
  });

  it('POST /events/batch with an Idempotency-Key: item i without an eventId is <key>:<i>, so a retried batch repeats its eventIds', async () => {
    await drainEvents();
    const batch = {
      events: [like, { ...like, eventId: 'own-id-1' }, { type: 'FOLLOW', actorId: 'user1', targetId: 'user5' }],
    };
    const first = await post(service.port, '/events/batch', batch, { 'Idempotency-Key': 'batch-key-1' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const ids = (first.body.results as Json[]).map((r) => r.eventId);
    assert.deepEqual(ids, ['batch-key-1:0', 'own-id-1', 'batch-key-1:2']);
    const retried = await post(service.port, '/events/batch', batch, { 'Idempotency-Key': 'batch-key-1' });
    assert.deepEqual(retried.body, first.body, 'the retry is answered alike');
    const published = (await drainEvents()).map((m) => m.properties.messageId as string).sort();
    assert.deepEqual(published, [...ids, ...ids].sort(), 'the same eventIds twice: the consumer counts each once');

    // Item by item, the key's rule: item 0 is now another event under batch-key-1:0.
    const changed = await post(
      service.port,
      '/events/batch',
      { events: [{ ...like, postId: 'post4' }, batch.events[1]] },
      { 'Idempotency-Key': 'batch-key-1' },
    );
    assert.equal(changed.status, 200);
    assert.deepEqual([changed.body.accepted, changed.body.rejected], [1, 1]);
    const [reused, same] = changed.body.results as Json[];
    assert.equal(reused?.status, 'rejected');
    assert.equal(reused?.error, 'idempotency_key_reused');
    assert.equal(reused?.eventId, 'batch-key-1:0');
    assert.equal(same?.status, 'accepted');
    assert.deepEqual(
      (await drainEvents()).map((m) => m.properties.messageId),
      ['own-id-1'],
    );
  });

  it('POST /events/batch: an eventId twice in one batch is published once, for its first item', async () => {
    await drainEvents();
    const res = await post(service.port, '/events/batch', {
      events: [
        { type: 'FOLLOW', actorId: 'a', targetId: 'b', eventId: 'dup-in-batch' },
        { type: 'FOLLOW', actorId: 'c', targetId: 'd', eventId: 'dup-in-batch' },
        { type: 'FOLLOW', actorId: 'a', targetId: 'b', eventId: 'dup-in-batch' },
      ],
    });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.accepted, res.body.rejected], [1, 2]);
    const results = res.body.results as Json[];
    assert.equal(results[0]?.status, 'accepted');
    for (const later of results.slice(1)) {
      assert.equal(later.status, 'rejected');
      assert.equal(later.error, 'duplicate_event_id');
      assert.equal(later.eventId, 'dup-in-batch');
    }
    const published = await drainEvents();
    assert.deepEqual(
      published.map((m) => JSON.parse(m.content.toString()).actorId),
      ['a'],
    );
  });

  it('POST /events/batch: an Idempotency-Key too long to number its items is a 400', async () => {
    // BATCH_MAX_EVENTS is 5 here: `<key>:4` must stay within 128 characters.
    const tooLong = await post(
      service.port,
      '/events/batch',
      { events: [like] },
      { 'Idempotency-Key': 'k'.repeat(127) },
    );
    assert.equal(tooLong.status, 400);
    assert.deepEqual(
      (tooLong.body.details as Json[]).map((d) => d.field),
      ['Idempotency-Key'],
    );
    assert.match(String((tooLong.body.details as Json[])[0]?.message), /1-126 characters/);
    const longest = await post(
      service.port,
      '/events/batch',
      { events: [like] },
      { 'Idempotency-Key': 'k'.repeat(126) },
    );
    assert.equal(longest.status, 200);
    assert.equal((longest.body.results as Json[])[0]?.eventId, `${'k'.repeat(126)}:0`);
    await drainEvents();
  });

  it('GET /users and GET /posts serve the seeded demo data', async () => {
    const users = (await (await fetch(`http://127.0.0.1:${service.port}/users`)).json()) as { users: Json[] };
    assert.equal(users.users.length, 10);
    assert.ok(users.users.some((u) => u.id === 'user1' && u.name === 'Ada'));
    const posts = (await (await fetch(`http://127.0.0.1:${service.port}/posts`)).json()) as { posts: Json[] };
    assert.equal(posts.posts.length, 20);
    assert.ok(posts.posts.some((p) => p.id === 'post1' && p.authorId === 'user1'));
  });

  it('counts accepted and rejected events in /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
    assert.match(text, /producer_events_accepted_total\{[^}]*type="LIKE"[^}]*\} [1-9]/);
    assert.match(text, /producer_events_rejected_total\{[^}]*reason="validation_failed"[^}]*\} [1-9]/);
  });
});

describe('producer while the broker is unreachable', () => {
  const amqpProxy = new TcpProxy('127.0.0.1', Number(new URL(config.rabbitmq.url).port || 5672));
  let service: ProducerService;
  before(async () => {
    await amqpProxy.start();
    const proxied = loadConfig({
      ...env,
      RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${amqpProxy.port}`,
      AMQP_HEARTBEAT_SECONDS: '1',
      RETRY_AFTER_SECONDS: '7',
    });
    service = await bootstrap(proxied, testLogger);
  });
  after(async () => {
    await service.close();
    await amqpProxy.close();
  });

  it('503 with Retry-After and the eventId to retry with', async () => {
    await amqpProxy.cut();
    await eventually(async () => (await fetch(`http://127.0.0.1:${service.port}/readyz`)).status === 503, {
      what: 'the producer to notice the broker is gone',
    });
    const res = await post(service.port, '/events', like, { 'Idempotency-Key': 'while-down' });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.equal(res.body.error, 'broker_unavailable');
    assert.equal(res.body.eventId, 'while-down');
  });
});

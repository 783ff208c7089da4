import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

/*
 * POST/DELETE /users/:userId/follows publish a FOLLOW/UNFOLLOW event and answer 503 when the
 * broker does not confirm it in time. The event may still be in the queue then (the confirm was
 * only late), so a retry must not publish a second event: with the same Idempotency-Key it
 * publishes the same eventId, which the consumer counts once. The producer runs alone (no
 * consumer), so what it published stays in the queue for the test to read. Its broker connection
 * goes through a proxy that can hold the broker's answers.
 */
const KEY = 'follows-idempotency-intake-key-0123456789';
const { env, config } = testEnv('followsidem', { INTAKE_API_KEYS: KEY, PUBLISH_CONFIRM_TIMEOUT_MS: '1000' });
const socialQueue = createTopology(config).eventsQueues.social;
type Json = Record<string, unknown>;

describe('follow routes: Idempotency-Key, and a 503 that may have published', () => {
  let proxy: TcpProxy;
  let producer: ProducerService;
  let amqp: amqplib.ChannelModel;
  let channel: amqplib.Channel;

  const call = async (method: string, path: string, key?: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${producer.port}${path}`, {
      method,
      headers: {
        authorization: `ApiKey ${KEY}`,
        ...(key === undefined ? {} : { 'idempotency-key': key }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  /** Takes every message off the social queue (FOLLOW and UNFOLLOW are social). */
  const drain = async (): Promise<Json[]> => {
    const out: Json[] = [];
    for (;;) {
      const msg = await channel.get(socialQueue, { noAck: true });
      if (msg === false) return out;
      out.push({ messageId: msg.properties.messageId, ...(JSON.parse(msg.content.toString()) as Json) });
    }
  };

  before(async () => {
    proxy = await new TcpProxy('127.0.0.1', Number(new URL(config.rabbitmq.url).port || 5672)).start();
    producer = await bootstrap(
      loadConfig({ ...env, RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}` }),
      testLogger,
    );
    amqp = await amqplib.connect(config.rabbitmq.url);
    channel = await amqp.createChannel();
  });
  after(async () => {
    // Held bytes flow again first; a connection the stall left half-closed may refuse a clean close.
    proxy.unstall();
    await producer.close().catch(() => undefined);
    await proxy.close();
    await amqp.close();
    await cleanupTestResources(config);
  });

  it('a 503 names the late confirm; its FOLLOW reaches the queue, and a retry with the same key publishes the same eventId', async () => {
    await drain();
    proxy.stall();
    const late = await call('POST', '/users/fi-u1/follows', 'follow-fi-u1-fi-u2', { targetId: 'fi-u2' });
    assert.equal(late.status, 503, JSON.stringify(late.body));
    assert.equal(late.body.error, 'broker_unavailable');
    assert.equal(late.body.message, 'the broker did not confirm in time');
    assert.equal(late.body.eventId, 'follow-fi-u1-fi-u2');
    proxy.unstall();

    // The broker had it: the 503 did not mean "nothing changed".
    let queued: Json[] = [];
    await eventually(async () => (queued = [...queued, ...(await drain())]).length > 0, {
      what: 'the FOLLOW of the 503 to reach the queue',
    });
    assert.deepEqual(
      queued.map((m) => [m.messageId, m.type]),
      [['follow-fi-u1-fi-u2', 'FOLLOW']],
    );

    const retry = await call('POST', '/users/fi-u1/follows', 'follow-fi-u1-fi-u2', { targetId: 'fi-u2' });
    assert.equal(retry.status, 201, JSON.stringify(retry.body));
    assert.equal(retry.body.eventId, 'follow-fi-u1-fi-u2');
    assert.deepEqual(
      (await drain()).map((m) => m.messageId),
      ['follow-fi-u1-fi-u2'],
      'the same eventId again: the consumer counts it once',
    );
  });

  it('a key reused for another follow change is a 422, before anything changes; DELETE takes a key too', async () => {
    await drain();
    const first = await call('POST', '/users/fi-u3/follows', 'fi-key-2', { targetId: 'fi-u4' });
    assert.equal(first.status, 201);
    const other = await call('POST', '/users/fi-u3/follows', 'fi-key-2', { targetId: 'fi-u5' });
    assert.equal(other.status, 422, JSON.stringify(other.body));
    assert.equal(other.body.error, 'idempotency_key_reused');
    const unfollowUnderIt = await call('DELETE', '/users/fi-u3/follows/fi-u4', 'fi-key-2');
    assert.equal(unfollowUnderIt.status, 422);

    const unfollowed = await call('DELETE', '/users/fi-u3/follows/fi-u4', 'fi-key-3');
    assert.equal(unfollowed.status, 200, JSON.stringify(unfollowed.body));
    assert.equal(unfollowed.body.eventId, 'fi-key-3');
    assert.deepEqual(
      (await drain()).map((m) => [m.messageId, m.type, m.targetId]),
      [
        ['fi-key-2', 'FOLLOW', 'fi-u4'],
        ['fi-key-3', 'UNFOLLOW', 'fi-u4'],
      ],
    );
    const bad = await call('POST', '/users/fi-u3/follows', 'not a key', { targetId: 'fi-u6' });
    assert.equal(bad.status, 400);
  });
});

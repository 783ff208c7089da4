import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { ackedAt } from '../../shared/buffer.js';
import { markPersisted, readPending } from '../helpers/buffer.js';
import type { Notification } from '../../shared/notification.js';
import { keys } from '../../shared/keys.js';
import { readTimeline } from '../../shared/timeline.js';
import { drainAcks } from '../helpers/acks-queue.js';
import { testEnv } from '../helpers/config.js';
import { wsServerSuite } from '../helpers/ws-suite.js';
import { recordCommands } from '../helpers/redis-commands.js';
import { WsTestClient } from '../helpers/ws-client.js';

// No wake route refresh round during the tests: they count the Redis commands an ACK sends.
const { config } = testEnv('wsackbatch', {
  WS_MAX_FRAMES_PER_SECOND: '200',
  WS_ROUTE_REFRESH_MS: '600000',
  WS_ROUTE_TTL_MS: '1200000',
});

/** What one ACK frame costs the ws-server: Redis requests and broker messages, whatever its size. */
describe('ws-server: an ACK frame in one round trip', () => {
  const suite = wsServerSuite(config);
  const authed = async (userId: string) => {
    const [client, ok] = await WsTestClient.authed(suite.server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
    });
    suite.clients.push(client);
    if (ok.catchingUp) await client.next('REPLAY_DONE');
    return client;
  };
  const bufferMany = async (userId: string, count: number) => {
    const made: Notification[] = [];
    for (let i = 0; i < count; i++) made.push(await suite.consumer.buffer(await suite.consumer.make(userId)));
    return made;
  };

  it('acks 1 or 20 ids with one Redis request and at most one broker message, recording sent and acked', async () => {
    const made = await bufferMany('batch', 22);
    const client = await authed('batch');
    const frames = await client.waitForNotifications(22);
    const sentBeforeAck = Date.now();
    // Jobs stored five of the twenty; the other fifteen are left to their persist jobs.
    const twenty = made.slice(2).map((n) => n.id);
    await markPersisted(suite.consumer.redis, 'batch', twenty.slice(0, 5));

    // The first ACK may load the script into Redis (NOSCRIPT, then EVAL); count from the second.
    client.send({ type: 'ACK', notificationId: made[0]!.id });
    await client.next('ACKED');
    assert.deepEqual(await drainAcks(config), [], 'an unstored id costs no broker message');

    const commands = recordCommands(suite.server.redis);
    try {
      client.send({ type: 'ACK', notificationId: made[1]!.id });
      assert.deepEqual((await client.next('ACKED')).ids, [made[1]!.id]);
      assert.deepEqual(commands.names, ['evalsha'], 'one id: one script call');

      commands.reset();
      client.send({ type: 'ACK', notificationIds: twenty });
      assert.deepEqual(new Set((await client.next('ACKED')).ids as string[]), new Set(twenty));
      assert.deepEqual(commands.names, ['evalsha'], 'twenty ids: still one script call');
    } finally {
      commands.restore();
    }
    const published = await drainAcks(config);
    assert.equal(published.length, 1, 'one broker message for the frame');
    assert.deepEqual(published[0]?.userId, 'batch');
    assert.deepEqual(new Set(published[0]?.notificationIds), new Set(twenty.slice(0, 5)), 'only the stored ids');
    assert.ok(!Number.isNaN(Date.parse(published[0]!.ackedAt)));

    assert.equal((await readPending(suite.consumer.redis, 'batch', 50)).total, 0);
    const acked = await ackedAt(suite.consumer.redis, 'batch', twenty);
    assert.ok(
      acked.every((at) => at !== null),
      'every id carries its acked mark',
    );
    const firstSent = new Map(frames.map((f) => [f.notification.id, f]));
    for (const id of [made[0]!.id, ...twenty]) {
      assert.ok(firstSent.has(id));
      const timeline = await readTimeline(suite.consumer.redis, 'batch', id);
      assert.ok(
        timeline.sent !== undefined && timeline.sent <= sentBeforeAck,
        `sent is the first send: ${JSON.stringify(timeline)}`,
      );
      assert.ok(
        timeline.acked !== undefined && timeline.acked >= timeline.sent,
        `acked after sent: ${JSON.stringify(timeline)}`,
      );
    }
  });

  it("records an ACK's stages without moving the timeline's expiry, and gives one to a timeline that had none", async () => {
    const redis = suite.consumer.redis;
    const [committed, bare] = await bufferMany('expiry', 2);
    // What the commit leaves: its stages and an expiry (here a shorter one than the buffer TTL, to tell them apart).
    await redis.hset(keys.timeline('expiry', committed!.id), 'buffered', '1');
    await redis.pexpire(keys.timeline('expiry', committed!.id), 500_000);
    const client = await authed('expiry');
    await client.waitForNotifications(2);
    client.send({ type: 'ACK', notificationIds: [committed!.id, bare!.id] });
    await client.next('ACKED');

    const kept = await redis.pttl(keys.timeline('expiry', committed!.id));
    assert.ok(kept > 0 && kept <= 500_000, `the commit's expiry stays: ${kept} ms left`);
    const timeline = await readTimeline(redis, 'expiry', committed!.id);
    assert.equal(timeline.buffered, 1, 'an earlier stage is kept');
    assert.ok(timeline.acked !== undefined && timeline.sent !== undefined, JSON.stringify(timeline));
    const made = await redis.ttl(keys.timeline('expiry', bare!.id));
    assert.ok(
      made > 0 && made <= config.pipeline.bufferTtlSeconds,
      `a timeline the ACK made expires with the buffer: ${made} s`,
    );
  });

  it('keeps the first ack time and answers a repeated ACK again, publishing the stored ids again', async () => {
    const [stored] = await bufferMany('again', 1);
    const client = await authed('again');
    await client.waitForNotifications(1);
    await markPersisted(suite.consumer.redis, 'again', [stored!.id]);
    client.send({ type: 'ACK', notificationId: stored!.id });
    await client.next('ACKED');
    const [first] = await ackedAt(suite.consumer.redis, 'again', [stored!.id]);
    client.send({ type: 'ACK', notificationIds: [stored!.id, stored!.id] });
    assert.deepEqual((await client.next('ACKED')).ids, [stored!.id]);
    assert.deepEqual(await ackedAt(suite.consumer.redis, 'again', [stored!.id]), [first]);
    const published = await drainAcks(config);
    assert.deepEqual(
      published.map((m) => m.notificationIds),
      [[stored!.id], [stored!.id]],
      'jobs applies acks idempotently',
    );
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { killConnection } from '../helpers/redis-commands.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/** Subscribers of `channel` (on a cluster, on whichever node each one is connected to). */
async function subscribers(redis: Redis, channel: string): Promise<number> {
  let count = 0;
  for (const server of redis instanceof Cluster ? redis.nodes('all') : [redis]) {
    const [, n] = (await server.pubsub('NUMSUB', channel)) as [string, number];
    count += Number(n);
  }
  return count;
}

function hhmmss(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

describe('preferences: API, mute, do-not-disturb', () => {
  let p: Pipeline;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('prefs');
  });
  after(async () => {
    for (const c of clients) c.close();
    await p.close();
  });

  /** The consumer's count of preference lookups served from memory (hit) or read from Redis (miss). */
  async function lookups(outcome: 'hit' | 'miss'): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${p.consumerPort}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('consumer_preference_lookups_total{') && l.includes(`outcome="${outcome}"`));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  }

  async function put(userId: string, body: unknown) {
    const res = await fetch(`${p.producerUrl}/users/${userId}/preferences`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await p.token(userId)}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('validates with 400, stores, and serves the update at once (cache invalidated)', async () => {
    assert.deepEqual((await p.request('GET', '/users/user6/preferences', 'user6')).body, {
      mutedTypes: [],
      promotionalOptOut: false,
      doNotDisturb: null,
    });
    const bad = await put('user6', {
      mutedTypes: ['SECURITY'],
      doNotDisturb: { start: '9pm', end: '07:00', timeZone: 'UTC' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'validation_failed');
    assert.equal((await put('user6', { mutedTypes: ['FOLLOW'] })).status, 200);
    assert.deepEqual((await p.request('GET', '/users/user6/preferences', 'user6')).body.mutedTypes, ['FOLLOW']);
    const other = await fetch(`${p.producerUrl}/users/user6/preferences`, {
      headers: { authorization: `Bearer ${await p.token('user7')}` },
    });
    assert.equal(other.status, 403);
  });

  it("a user's concurrent first writes all succeed (the losing insert retries as an update)", async () => {
    // Found by test/integration/openapi-contract.test.ts: FerretDB does not retry an upsert that
    // lost the insert race on _id, and the API answered 500.
    for (let round = 0; round < 5; round++) {
      const userId = `race-${round}`;
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => put(userId, { promotionalOptOut: i % 2 === 0 })),
      );
      assert.deepEqual(
        answers.map((a) => a.status),
        Array(8).fill(200),
        JSON.stringify(answers.find((a) => a.status !== 200)?.body),
      );
    }
  });

  it('a muted type is not delivered and its suppression is in the event timeline; other types still are', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user6') });
    clients.push(client);
    const muted = await p.post('/events', { actorId: 'user1', targetId: 'user6', type: 'FOLLOW' });
    await p.post('/events', { actorId: 'user1', targetId: 'user6', postId: 'post2', type: 'MENTION' });
    const [frame] = await client.waitForNotifications(1);
    assert.equal(frame!.notification.type, 'MENTION');
    const suppressedAt = await eventually(
      async () => {
        // The suppressed event is recorded in its timeline (Redis, by recipient and eventId).
        const { connectRedis, closeRedis } = await import('../../shared/redis.js');
        const { readTimeline } = await import('../../shared/timeline.js');
        const { testLogger } = await import('../helpers/logger.js');
        const redis = await connectRedis(p.config, testLogger, 'test');
        try {
          const t = await readTimeline(redis, 'user6', muted.body.eventId as string);
          return t.suppressed;
        } finally {
          await closeRedis(redis);
        }
      },
      { what: 'the suppressed stage' },
    );
    assert.ok(suppressedAt > 0);
    assert.equal(client.notifications().filter((f) => f.notification.type === 'FOLLOW').length, 0);
  });

  it("an update reaches the consumer's in-memory copy at once: the next event after the 200 is decided by it", async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user9') });
    clients.push(client);
    // Two events read user9's preferences: the first from Redis, the second from memory.
    const missesBefore = await lookups('miss');
    await p.post('/events', { actorId: 'user1', targetId: 'user9', postId: 'post3', type: 'LIKE' });
    await client.waitForNotifications(1);
    const hitsBefore = await lookups('hit');
    await p.post('/events', { actorId: 'user2', targetId: 'user9', postId: 'post4', type: 'LIKE' });
    await client.waitForNotifications(2);
    assert.equal((await lookups('miss')) - missesBefore, 1, 'only the first read went to Redis');
    assert.equal((await lookups('hit')) - hitsBefore, 1, 'the second came from memory');
    // Muted now: with no invalidation the consumer would still hold "nothing muted" and deliver.
    assert.equal((await put('user9', { mutedTypes: ['LIKE'] })).status, 200);
    await p.post('/events', { actorId: 'user3', targetId: 'user9', postId: 'post5', type: 'LIKE' });
    await p.post('/events', { actorId: 'user3', targetId: 'user9', postId: 'post5', type: 'MENTION' });
    const frames = await client.waitForNotifications(3);
    assert.deepEqual(
      frames.map((f) => f.notification.type),
      ['LIKE', 'LIKE', 'MENTION'],
      'the like after the mute was suppressed',
    );
  });

  it('a consumer whose change subscription dropped forgets every copy it held, and caches again once back', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user10') });
    clients.push(client);
    await p.post('/events', { actorId: 'user1', targetId: 'user10', postId: 'post6', type: 'MENTION' });
    await client.waitForNotifications(1); // user10's preferences are held now
    // Writes announced while a subscriber is away are lost to it (pub/sub is at most once).
    // Only this file's consumer is cut: other files' consumers share the server.
    const name = p.consumerPreferencesConnection;
    assert.ok(name, 'the consumer subscribes to preference changes');
    const channel = keys.preferencesChanged(p.config.redis.keyPrefix);
    const redis = await connectRedis(p.config, testLogger, 'test');
    try {
      const subscribed = await subscribers(redis, channel);
      assert.equal(subscribed, 1, "this file's channel has the consumer's subscriber");
      assert.ok(await killConnection(redis, name), 'the subscriber connection was cut');
      // Back once it re-subscribed: the count fell to 0 with the kill (CLIENT KILL frees at once).
      await eventually(async () => (await subscribers(redis, channel)) === subscribed, {
        what: 'the consumer to re-subscribe',
      });
    } finally {
      await closeRedis(redis);
    }
    const misses = await lookups('miss');
    const hits = await lookups('hit');
    await p.post('/events', { actorId: 'user2', targetId: 'user10', postId: 'post7', type: 'MENTION' });
    await client.waitForNotifications(2);
    await p.post('/events', { actorId: 'user3', targetId: 'user10', postId: 'post8', type: 'MENTION' });
    await client.waitForNotifications(3);
    assert.equal((await lookups('miss')) - misses, 1, 'the copy held before the drop was not served');
    assert.equal((await lookups('hit')) - hits, 1, 'and the cache serves again after the re-subscribe');
  });

  it('during do-not-disturb a like waits for the window end; a security alert goes through at once', async () => {
    const now = Date.now();
    const endsAt = now + 4000;
    assert.equal(
      (await put('user8', { doNotDisturb: { start: hhmmss(now - 60_000), end: hhmmss(endsAt), timeZone: 'UTC' } }))
        .status,
      200,
    );
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user8') });
    clients.push(client);
    await p.post('/events', { actorId: 'user1', targetId: 'user8', postId: 'post9', type: 'LIKE' });
    await p.post('/events', { targetId: 'user8', type: 'SECURITY', text: 'new sign-in' });
    const [first] = await client.waitForNotifications(1);
    assert.equal(first!.notification.type, 'SECURITY');
    assert.ok(Date.now() < endsAt, 'the alert arrived inside the window');
    assert.equal(client.notifications().length, 1, 'the like is held back inside the window');
    const like = await eventually(() => client.notifications().find((f) => f.notification.type === 'LIKE'), {
      what: 'the held like after the window',
    });
    assert.ok(Date.now() >= endsAt - 1000, 'the like came when the window ended');
    assert.equal(like.notification.message, 'Ada liked your post');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { readPending } from '../helpers/buffer.js';
import { ensureIndexes, models, type Models } from '../../shared/models/index.js';
import { closeRedis, connectRedis } from '../../shared/redis.js';
import { loadAgedNotifications } from '../helpers/aged-db.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';
import { replayCounts } from '../helpers/ws-client.js';

/**
 * What users run on after a month: a `notifications` collection with 200,000 documents of other
 * users, and a MongoDB that can hang. The live path (AUTH, replay of the buffer, push, ACK) must
 * not notice either: it touches only Redis and RabbitMQ. MongoDB sits behind a TCP proxy the
 * test can stall, so "MongoDB hung" is real bytes not arriving, not a mock.
 */
const AGED_DOCUMENTS = Number(process.env.TEST_AGED_DOCUMENTS ?? 200_000);
const NEW_USERS = 100;

describe('live delivery on an aged database, and with MongoDB hung', { timeout: 10 * 60_000 }, () => {
  let p: Pipeline;
  let proxy: TcpProxy;
  let direct: mongoose.Connection;
  let db: Models;
  const clients: AppClient[] = [];

  before(async () => {
    const upstream = new URL(process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27017');
    proxy = await new TcpProxy(upstream.hostname, Number(upstream.port || 27017)).start();
    // The services reach MongoDB through the proxy; the test itself talks to it directly.
    const { config } = testEnv('aged');
    const viaProxy = new URL(config.mongo.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    direct = await mongoose.createConnection(config.mongo.url).asPromise();
    db = models(direct);
    await ensureIndexes(db);
    const aged = await loadAgedNotifications(direct, { count: AGED_DOCUMENTS });
    assert.equal(aged.inserted, AGED_DOCUMENTS);
    process.stdout.write(`# aged database: ${aged.inserted} notifications loaded in ${aged.elapsedMs} ms\n`);
    // One actor notifies everyone here: its rate limit is not what this test is about.
    p = await startPipeline('aged', {
      MONGO_URL: viaProxy.toString(),
      MONGO_FALLBACK_WAIT_MS: '50',
      PERSIST_DELAY_MS: '500',
      // jobs' batches and acks that failed during the stall climb its retry ladder; shorter rungs
      // let them come back within the test's bound (what is tested is that they come back).
      RETRY_BASE_DELAY_MS: '250',
      RATE_LIMIT_ACTOR_PER_MINUTE: '100000',
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    proxy.resume();
    await p?.close();
    await direct?.dropDatabase().catch(() => undefined);
    await direct?.close();
    await proxy?.close();
  });

  /** Apps on the project's client, each open (AUTH_OK), with its AUTH_OK and the time it took. */
  async function connectAll(users: string[]): Promise<Array<[AppClient, ReturnType<AppClient['authOk']>, number]>> {
    return Promise.all(
      users.map(async (userId) => {
        const token = await p.token(userId);
        const startedAt = performance.now();
        const client = await AppClient.open(p.wsPort, { token });
        clients.push(client);
        return [client, client.authOk(), performance.now() - startedAt] as [
          AppClient,
          ReturnType<AppClient['authOk']>,
          number,
        ];
      }),
    );
  }

  async function postLikes(users: string[], postId: string): Promise<void> {
    const results = await Promise.all(
      users.map((targetId) => p.post('/events', { actorId: 'user1', targetId, postId, type: 'LIKE' })),
    );
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([202]));
  }

  it(`${NEW_USERS} new users connecting at once all get AUTH_OK, and ${NEW_USERS} events to them are all delivered live`, async () => {
    const users = Array.from({ length: NEW_USERS }, (_, i) => `fresh${i}`);
    const connected = await connectAll(users);
    const latencies = connected.map(([, , ms]) => ms).sort((a, b) => a - b);
    process.stdout.write(
      `# AUTH_OK on the aged database: p50 ${latencies[49]?.toFixed(1)} ms, p99 ${latencies[98]?.toFixed(1)} ms\n`,
    );
    for (const [, ok] of connected) assert.equal(ok.type, 'AUTH_OK');

    await postLikes(users, 'post1');
    for (const [client] of connected) {
      const [n] = await client.waitForNotifications(1);
      assert.equal(n!.message, 'Ada liked your post');
    }
    // The MongoDB half of each first replay ran after AUTH_OK (bounded: a few at a time) and
    // found nothing to add; the client ends the replay there.
    for (const [client] of connected) {
      const done = await client.next('REPLAY_DONE', { timeoutMs: 120_000 });
      assert.deepEqual(replayCounts(done), { type: 'REPLAY_DONE', pending: 0, recovered: true });
      const resume = await client.resume();
      assert.deepEqual([resume.recovered, resume.pending], [true, 0]);
    }
  });

  it('with MongoDB hung: AUTH, replay of the buffer, live push and ACK go on; what needed MongoDB catches up when it answers again', async () => {
    // Buffered while offline, then MongoDB stops answering (connections stay open, bytes stop).
    const offline = Array.from({ length: 20 }, (_, i) => `hung${i}`);
    await postLikes(offline, 'post2');
    const redis = await connectRedis(p.config, testLogger, 'test');
    try {
      await eventually(
        async () => (await Promise.all(offline.map((u) => readPending(redis, u, 10)))).every((r) => r.total === 1),
        {
          what: 'a like buffered for each offline user',
        },
      );
    } finally {
      await closeRedis(redis);
    }
    // Their unread counters were never built: AUTH must not wait for MongoDB to build them.
    proxy.stall();

    const connected = await connectAll(offline);
    for (const [client, ok] of connected) {
      assert.equal(ok.pending, 1, 'the buffered like is replayed from Redis');
      assert.equal(ok.unread, undefined, 'the count is being rebuilt; an UNREAD frame follows once MongoDB answers');
      assert.equal(client.client.unread, undefined, 'so the app has no count yet');
      const [n] = await client.waitForNotifications(1);
      client.client.ack(n!.id);
    }
    for (const [client] of connected) assert.equal((await client.next('ACKED')).type, 'ACKED');

    // Live push while MongoDB is still hung.
    await postLikes(offline, 'post3');
    for (const [client] of connected) {
      const ns = await client.waitForNotifications(2);
      client.client.ack(ns[1]!.id);
    }
    assert.equal(
      connected.some(([client]) => client.of('REPLAY_DONE').length > 0),
      false,
      'no catch-up could finish meanwhile',
    );
    assert.equal(
      connected.some(([client]) => client.resumes.length > 0),
      false,
      'so no client has ended its replay',
    );

    // MongoDB answers again: the catch-ups finish, and jobs stores every notification, delivered.
    // (Both retry with backoff while the sockets are open: up to 30 s apart.)
    proxy.resume();
    for (const [client] of connected) {
      const done = await client.next('REPLAY_DONE', { timeoutMs: 60_000 });
      assert.equal(done.recovered, true);
      assert.equal((await client.resume(1, { timeoutMs: 60_000 })).recovered, true);
      await eventually(() => client.client.unread, { what: 'the rebuilt unread count on the app', timeoutMs: 60_000 });
    }
    await eventually(
      async () => {
        const stored = await db.Notification.find({ userId: { $in: offline } }, { status: 1 }).lean();
        return stored.length === 2 * offline.length && stored.every((n) => n.status === 'delivered')
          ? stored
          : undefined;
      },
      { what: 'every notification stored as delivered', timeoutMs: 180_000, intervalMs: 500 },
    );
  });
});

import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { ackedAt } from '../../shared/buffer.js';
import { keys } from '../../shared/keys.js';
import { markPersisted, readPending } from '../helpers/buffer.js';
import { models, type Models } from '../../shared/models/index.js';
import { readTimeline } from '../../shared/timeline.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { drainAcks } from '../helpers/acks-queue.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient, replayCounts } from '../helpers/ws-client.js';
import { storedNotification } from '../helpers/stored-notification.js';

const { config } = testEnv('wsdelivery', { REPLAY_LIMIT: '60', WS_MAX_FRAMES_PER_SECOND: '200' });

describe('ws-server: replay, live push and ACK', () => {
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  let mongo: mongoose.Connection;
  let db: Models;
  const clients: WsTestClient[] = [];
  const authed = async (userId: string, lastSeq?: number) => {
    const [client, ok] = await WsTestClient.authed(server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
      ...(lastSeq === undefined ? {} : { lastSeq }),
    });
    clients.push(client);
    return [client, ok] as const;
  };

  before(async () => {
    server = await bootstrap(config, testLogger);
    consumer = await SimulatedConsumer.start(config);
    mongo = await mongoose.createConnection(config.mongo.url).asPromise();
    db = models(mongo);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await mongo.close();
    await cleanupTestResources(config);
  });

  it('replays an offline user everything once, by priority then oldest; after ACK a reconnect gets nothing', async () => {
    const promo = await consumer.buffer(await consumer.make('offline', { priority: 1, type: 'PROMO' }));
    const like1 = await consumer.buffer(await consumer.make('offline', { priority: 5 }));
    const security = await consumer.buffer(await consumer.make('offline', { priority: 9, type: 'SECURITY' }));
    const like2 = await consumer.buffer(await consumer.make('offline', { priority: 5 }));

    const [client, ok] = await authed('offline');
    const { unreadVersion, ...rest } = ok;
    assert.deepEqual(rest, {
      type: 'AUTH_OK',
      userId: 'offline',
      pending: 4,
      recovered: false,
      catchingUp: true,
      seq: Math.max(promo.seq, like1.seq, security.seq, like2.seq),
      unread: 4,
      ackVersions: true,
    });
    assert.ok(typeof unreadVersion === 'number' && unreadVersion > 0, 'the counter carries its version');
    const frames = await client.waitForNotifications(4);
    assert.deepEqual(
      frames.map((f) => f.notification.id),
      [security.id, like1.id, like2.id, promo.id],
    );
    assert.equal(frames[0]?.notification.type, 'SECURITY');
    assert.equal(client.frames[0]?.type, 'AUTH_OK', 'AUTH_OK comes before the replay');
    assert.deepEqual(
      replayCounts(await client.next('REPLAY_DONE')),
      { type: 'REPLAY_DONE', pending: 4, recovered: true },
      'MongoDB adds nothing',
    );

    client.send({ type: 'ACK', notificationIds: frames.map((f) => f.notification.id) });
    const acked = await client.next('ACKED');
    assert.deepEqual(new Set(acked.ids as string[]), new Set([security.id, like1.id, like2.id, promo.id]));
    assert.equal((await readPending(consumer.redis, 'offline', 10)).total, 0);
    assert.ok((await readTimeline(consumer.redis, 'offline', security.id)).sent, 'sent stage recorded');
    assert.ok((await readTimeline(consumer.redis, 'offline', security.id)).acked, 'acked stage recorded');
    client.close();

    const [again, okAgain] = await authed('offline');
    assert.equal(okAgain.pending, 0);
    again.send({ type: 'PING' });
    await again.next('PONG');
    assert.equal(again.notifications().length, 0);

    // None is stored yet (still marked unpersisted): their persist jobs carry the acks, so no
    // ack message is published (docs/persistence.md).
    const published = (await drainAcks(config)).filter((a) => a.userId === 'offline');
    assert.deepEqual(published, []);
  });

  it('publishes the ACK of a notification jobs has stored, for jobs to mark it delivered', async () => {
    const stored = await consumer.buffer(await consumer.make('stored-ack'));
    const unstored = await consumer.buffer(await consumer.make('stored-ack'));
    await markPersisted(consumer.redis, 'stored-ack', [stored.id]); // what jobs does after its insert
    const [client] = await authed('stored-ack');
    const frames = await client.waitForNotifications(2);
    client.send({ type: 'ACK', notificationIds: frames.map((f) => f.notification.id) });
    await client.next('ACKED');
    const published = (await drainAcks(config)).filter((a) => a.userId === 'stored-ack');
    assert.deepEqual(
      published.map((a) => a.notificationIds),
      [[stored.id]],
      `one message, only the stored one; ${unstored.id} is left to its persist job`,
    );
  });

  it('pushes a notification to a connected user when the consumer wakes the servers', async () => {
    const [client] = await authed('live');
    const n = await consumer.deliver(await consumer.make('live', { message: 'live one' }));
    const [frame] = await client.waitForNotifications(1);
    assert.deepEqual(frame?.notification, {
      id: n.id,
      seq: n.seq,
      type: n.type,
      message: 'live one',
      actors: n.actors,
      actorCount: n.actorCount,
      objectId: n.objectId,
      priority: n.priority,
      createdAt: n.createdAt,
      version: n.version,
    });
  });

  it('sends a grown aggregate again with its new version, and never an acked id', async () => {
    const [client] = await authed('agg');
    const n = await consumer.deliver(await consumer.make('agg'));
    await client.waitForNotifications(1);
    await consumer.deliver({ ...n, version: 2, actors: ['actor2', 'actor1'], actorCount: 2 });
    const frames = await client.waitForNotifications(2);
    assert.equal(frames[1]?.notification.version, 2);
    client.send({ type: 'ACK', notificationId: n.id });
    await client.next('ACKED');
    await consumer.wake('agg', [n.id]);
    const later = await consumer.deliver(await consumer.make('agg'));
    await eventually(() => client.notificationIds().includes(later.id), { what: 'a later notification' });
    assert.equal(client.notificationIds().filter((id) => id === n.id).length, 2, 'the acked id is not sent again');
  });

  it("refuses an ACK of another user's notification and leaves it pending", async () => {
    const theirs = await consumer.buffer(await consumer.make('victim'));
    const [intruder] = await authed('intruder');
    intruder.send({ type: 'ACK', notificationId: theirs.id });
    const error = await intruder.next('ERROR');
    assert.equal(error.code, 'NOT_FOUND');
    assert.deepEqual(error.ids, [theirs.id]);
    assert.equal(intruder.of('ACKED').length, 0);
    assert.deepEqual(
      (await readPending(consumer.redis, 'victim', 10)).notifications.map((n) => n.id),
      [theirs.id],
    );
    assert.deepEqual(await ackedAt(consumer.redis, 'victim', [theirs.id]), [null]);
  });

  it('keeps the pending set exact under 50 concurrent ACKs on one socket', async () => {
    const all = [];
    for (let i = 0; i < 55; i++) all.push(await consumer.buffer(await consumer.make('many')));
    const [client] = await authed('many');
    await client.waitForNotifications(55);
    const toAck = all.slice(0, 50).map((n) => n.id);
    for (const id of toAck) client.send({ type: 'ACK', notificationId: id });
    await eventually(() => client.of('ACKED').length === 50, { what: '50 ACKED frames' });
    assert.deepEqual(new Set(client.of('ACKED').flatMap((f) => f.ids as string[])), new Set(toAck));
    const left = await readPending(consumer.redis, 'many', 100);
    assert.deepEqual(
      left.notifications.map((n) => n.id),
      all.slice(50).map((n) => n.id),
    );
  });

  it('resumes after lastSeq and says when the replay is incomplete', async () => {
    const made = [];
    for (let i = 0; i < 65; i++) made.push(await consumer.buffer(await consumer.make('resumer')));
    const lastSeq = made[9]!.seq;
    const [partial, ok] = await authed('resumer', lastSeq);
    assert.equal(ok.pending, 55);
    assert.equal(ok.catchingUp, true);
    assert.deepEqual(replayCounts(await partial.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 55,
      recovered: true,
    });
    const frames = await partial.waitForNotifications(55);
    assert.deepEqual(
      frames.map((f) => f.notification.seq),
      made.slice(10).map((n) => n.seq),
    );

    const [full, okFull] = await authed('resumer');
    assert.equal(okFull.pending, 65);
    assert.equal(okFull.recovered, false, '65 pending but REPLAY_LIMIT is 60');
    assert.equal(okFull.catchingUp, false, 'the first catch-up marked the user clean');
    assert.equal((await full.waitForNotifications(60)).length, 60);
  });

  it('replays undelivered notifications from MongoDB that left the buffer, without duplicates, and accepts their ACK', async () => {
    const buffered = await consumer.buffer(await consumer.make('archived', { priority: 5 }));
    const stored = (overrides: { _id: string; seq: number; priority: number }) =>
      storedNotification({ userId: 'archived', ...overrides });
    // Both stores hold `buffered`: it must come once. `acked` was acked in Redis, jobs is behind.
    await db.Notification.insertMany([
      stored({ _id: buffered.id, seq: buffered.seq, priority: 5 }),
      stored({ _id: 'mongo-high', seq: 0, priority: 9 }),
      stored({ _id: 'mongo-low', seq: 0, priority: 1 }),
      stored({ _id: 'mongo-acked', seq: 0, priority: 9 }),
      { ...stored({ _id: 'mongo-delivered', seq: 0, priority: 9 }), status: 'delivered' as const },
      { ...stored({ _id: 'other-user', seq: 0, priority: 9 }), userId: 'someone-else' },
    ]);
    await consumer.redis.set(keys.acked('archived', 'mongo-acked'), String(Date.now()));

    const [client, ok] = await authed('archived');
    assert.deepEqual([ok.pending, ok.recovered, ok.catchingUp], [1, false, true], 'AUTH_OK counts what Redis holds');
    const frames = await client.waitForNotifications(3);
    // Redis's replay before AUTH_OK's catch-up from MongoDB, each in priority order.
    assert.deepEqual(
      frames.map((f) => f.notification.id),
      [buffered.id, 'mongo-high', 'mongo-low'],
    );
    assert.deepEqual(replayCounts(await client.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 3,
      recovered: true,
    });

    client.send({ type: 'ACK', notificationIds: ['mongo-high', 'other-user'] });
    assert.deepEqual((await client.next('ACKED')).ids, ['mongo-high']);
    assert.deepEqual((await client.next('ERROR')).ids, ['other-user']);
    const published = (await drainAcks(config)).filter((a) => a.userId === 'archived');
    assert.deepEqual(
      published.map((a) => [a.notificationIds, a.userId]),
      [[['mongo-high'], 'archived']],
    );
    client.close();

    const [again] = await authed('archived');
    const replayed = await again.waitForNotifications(2);
    assert.deepEqual(
      replayed.map((f) => f.notification.id),
      [buffered.id, 'mongo-low'],
      'an acked MongoDB-only id is not replayed',
    );
  });
});

const short = testEnv('wsredeliver', { ACK_TIMEOUT_MS: '300', MAX_REDELIVERIES: '2' });

describe('ws-server: redelivery of unacked notifications', () => {
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  const clients: WsTestClient[] = [];

  before(async () => {
    server = await bootstrap(short.config, testLogger);
    consumer = await SimulatedConsumer.start(short.config);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await cleanupTestResources(short.config);
  });

  it('re-sends an unacked notification with the same id and seq, a bounded number of times', async () => {
    const [client] = await WsTestClient.authed(server.port, {
      token: await signUserToken('slow', short.config.auth.jwtSecret),
    });
    clients.push(client);
    const n = await consumer.deliver(await consumer.make('slow'));
    const frames = await client.waitForNotifications(3);
    for (const f of frames) assert.deepEqual([f.notification.id, f.notification.seq], [n.id, n.seq]);
    // 1 send + MAX_REDELIVERIES re-sends, then it waits for the next connection.
    const marker = await consumer.deliver(await consumer.make('slow'));
    await eventually(() => client.notificationIds().filter((id) => id === marker.id).length === 3, {
      what: 'marker redelivered twice',
    });
    assert.equal(client.notificationIds().filter((id) => id === n.id).length, 3);
    assert.equal((await readPending(consumer.redis, 'slow', 10)).total, 2, 'still pending for the next connection');
  });

  it('never sends an id again after its ACK', async () => {
    const [client] = await WsTestClient.authed(server.port, {
      token: await signUserToken('prompt', short.config.auth.jwtSecret),
    });
    clients.push(client);
    const n = await consumer.deliver(await consumer.make('prompt'));
    await client.waitForNotifications(1);
    client.send({ type: 'ACK', notificationId: n.id });
    await client.next('ACKED');
    // A later notification that is redelivered twice proves ACK_TIMEOUT_MS passed several times.
    const later = await consumer.deliver(await consumer.make('prompt'));
    await eventually(() => client.notificationIds().filter((id) => id === later.id).length >= 2, {
      what: 'later redelivered',
    });
    assert.equal(client.notificationIds().filter((id) => id === n.id).length, 1);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(metrics, /ws_notifications_redelivered_total\{service="ws-server"\} [1-9]/);
    assert.match(metrics, /ws_ack_latency_seconds_count\{service="ws-server"\} [1-9]/);
  });
});

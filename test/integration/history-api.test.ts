import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { bufferNotification } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { models, type Models, type NotificationStatus } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('historyapi');

describe('history and read API through the real producer', () => {
  let producer: ProducerService;
  let mongo: Connection;
  let m: Models;
  let redis: Redis;
  let base: string;
  let seq = 0;
  const token = (userId: string) => signUserToken(userId, config.auth.jwtSecret);
  const call = async (method: string, path: string, userId?: string) => {
    const headers: Record<string, string> = userId ? { authorization: `Bearer ${await token(userId)}` } : {};
    const res = await fetch(`${base}${path}`, { method, headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const store = async (
    userId: string,
    status: NotificationStatus,
    createdAt = new Date(Date.UTC(2026, 0, 1) + (seq += 1) * 1000),
  ) => {
    const id = uuidv7();
    await m.Notification.create({
      _id: id,
      userId,
      seq,
      type: 'LIKE',
      priority: 5,
      actors: ['a'],
      actorCount: 1,
      objectId: 'post1',
      message: 'a liked your post',
      status,
      version: 1,
      eventIds: [],
      createdAt,
      deliveredAt: null,
      readAt: status === 'read' ? new Date() : null,
      persistedAt: new Date(),
    });
    return id;
  };

  before(async () => {
    producer = await bootstrap(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    redis = await connectRedis(config, testLogger);
  });
  after(async () => {
    await producer.close();
    await mongo.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('pages every notification exactly once, newest first, while new ones arrive', async () => {
    const original: string[] = [];
    for (let i = 0; i < 23; i++) original.push(await store('pager', i % 3 === 0 ? 'read' : 'delivered'));
    // Two share a createdAt: the id breaks the tie, so neither is skipped nor repeated.
    const tie = new Date(Date.UTC(2026, 0, 1) + 5500);
    original.push(await store('pager', 'undelivered', tie), await store('pager', 'undelivered', tie));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/users/pager/notifications?limit=5${cursor ? `&before=${cursor}` : ''}`;
      const { status, body } = await call('GET', q, 'pager');
      assert.equal(status, 200);
      const items = body.notifications as Array<{ id: string; createdAt: string }>;
      for (let i = 1; i < items.length; i++) assert.ok(items[i - 1]!.createdAt >= items[i]!.createdAt, 'newest first');
      seen.push(...items.map((n) => n.id));
      cursor = body.nextCursor as string | null;
      await store('pager', 'undelivered', new Date()); // arrives between pages
      pages += 1;
    } while (cursor);
    assert.equal(pages, 5);
    assert.deepEqual([...seen].sort(), [...original].sort());
  });

  it('filters by status', async () => {
    const { body } = await call('GET', '/users/pager/notifications?status=read&limit=100', 'pager');
    const items = body.notifications as Array<{ status: string }>;
    assert.equal(items.length, 8);
    assert.ok(items.every((n) => n.status === 'read'));
  });

  it('counts unread, marks one read, then all read', async () => {
    const user = 'reader';
    const ids = [await store(user, 'undelivered'), await store(user, 'delivered'), await store(user, 'read')];
    const count = async () => (await call('GET', `/users/${user}/notifications/unread-count`, user)).body.unread;
    assert.equal(await count(), await m.Notification.countDocuments({ userId: user, status: { $ne: 'read' } }));
    assert.equal(await count(), 2);
    const one = await call('PATCH', `/notifications/${ids[0]}/read`, user);
    assert.equal(one.status, 200);
    assert.equal(one.body.status, 'read');
    assert.equal(await count(), 1);
    const all = await call('POST', `/users/${user}/notifications/read-all`, user);
    assert.deepEqual(all.body, { userId: user, marked: 1 });
    assert.equal(await count(), 0);
    const timeline = await call('GET', `/notifications/${ids[0]}/timeline`, user);
    assert.equal(timeline.status, 200);
    const stages = timeline.body.stages as Record<string, string | null>;
    assert.ok(stages.read && stages.persisted, JSON.stringify(stages));
  });

  it('remembers a read of a notification not stored yet, for jobs to store as read', async () => {
    const n = {
      id: uuidv7(),
      userId: 'early',
      seq: 1,
      type: 'LIKE',
      priority: 5,
      actors: ['a'],
      actorCount: 1,
      objectId: null,
      message: 'a liked your post',
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: [],
    };
    await bufferNotification(redis, n, 60);
    assert.equal((await call('PATCH', `/notifications/${n.id}/read`, 'someone-else')).status, 404);
    const res = await call('PATCH', `/notifications/${n.id}/read`, 'early');
    assert.equal(res.status, 200);
    assert.ok(await redis.get(keys.readBeforeStored('early', n.id)));
  });

  it("answers 404 for another user's notification, 403 for another user's history, 401 without a valid token, 400 for bad input", async () => {
    const id = await store('owner', 'delivered');
    assert.equal((await call('PATCH', `/notifications/${id}/read`, 'intruder')).status, 404);
    assert.equal((await call('GET', `/notifications/${id}/timeline`, 'intruder')).status, 404);
    assert.equal((await m.Notification.findById(id).lean())?.status, 'delivered');
    assert.equal((await call('GET', '/users/owner/notifications', 'intruder')).status, 403);
    assert.equal((await call('GET', '/users/owner/notifications')).status, 401);
    const bad = await fetch(`${base}/users/owner/notifications`, { headers: { authorization: 'Bearer not-a-jwt' } });
    assert.equal(bad.status, 401);
    const invalid = await call('GET', '/users/owner/notifications?limit=0&status=gone', 'owner');
    assert.equal(invalid.status, 400);
    const fields = (invalid.body.details as Array<{ field: string }>).map((d) => d.field).sort();
    assert.deepEqual(fields, ['limit', 'status']);
    assert.equal((await call('GET', '/users/owner/notifications?before=garbage', 'owner')).status, 400);
  });
});

describe('the read API without a caller (WS_AUTH_MODE=dev, no token)', () => {
  const { config: dev } = testEnv('historyapidev', { WS_AUTH_MODE: 'dev' });
  let producer: ProducerService;
  let redis: Redis;
  before(async () => {
    producer = await bootstrap(dev, testLogger);
    redis = await connectRedis(dev, testLogger);
  });
  after(async () => {
    await producer.close();
    await closeRedis(redis);
    await cleanupTestResources(dev);
  });

  it('finds the user of a notification only the buffer holds yet, to read it and show its timeline', async () => {
    // The buffer's keys carry their user (shared/keys.ts); without a caller the id alone must find it.
    const n = {
      id: uuidv7(),
      userId: 'devuser',
      seq: 1,
      type: 'LIKE',
      priority: 5,
      actors: ['a'],
      actorCount: 1,
      objectId: null,
      message: 'a liked your post',
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: [],
    };
    await bufferNotification(redis, n, 60);
    const base = `http://127.0.0.1:${producer.port}`;
    const read = await fetch(`${base}/notifications/${n.id}/read`, { method: 'PATCH' });
    assert.equal(read.status, 200);
    assert.ok(await redis.get(keys.readBeforeStored('devuser', n.id)), 'the read mark under its user');
    const timeline = await fetch(`${base}/notifications/${n.id}/timeline`);
    assert.equal(timeline.status, 200);
    assert.equal(((await timeline.json()) as { userId: string }).userId, 'devuser');
    assert.equal((await fetch(`${base}/notifications/${uuidv7()}/read`, { method: 'PATCH' })).status, 404);
  });
});

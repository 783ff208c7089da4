import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { markAllRead, markRead } from '../../producer/notifications/read.js';
import { bufferNotification } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { ensureIndexes, models, type Models, type NotificationStatus } from '../../shared/models/index.js';
import { UNREAD_STATUSES } from '../../shared/models/notification-state.js';
import mongoose, { type mongo as driver } from 'mongoose';
import { connectMongo, connectionOptions, type Connection } from '../../shared/mongo.js';
import type { Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { duringUnreadChange, readUnread } from '../../shared/unread.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { mongoBehindProxy, mongoCommand } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('unreadcounter');

/** shared/unread.ts against the real Redis and MongoDB: rebuild, and reads that count once. */
describe('the unread counter', () => {
  let mongo: Connection;
  let m: Models;
  let redis: Redis;
  let seq = 0;
  /** Users whose sockets a read told their count changed (the producer's UNREAD signal). */
  const announced: string[] = [];
  const deps = () => ({
    models: m,
    redis,
    keyPrefix: config.redis.keyPrefix,
    ttlSeconds: 60,
    batchTimeoutMs: config.mongo.batchTimeoutMs,
    announce: async (userId: string) => void announced.push(userId),
  });
  const make = (userId: string): Notification => ({
    id: uuidv7(),
    userId,
    seq: (seq += 1),
    type: 'LIKE',
    priority: 5,
    actors: ['a'],
    actorCount: 1,
    objectId: 'post1',
    message: 'a liked your post',
    createdAt: new Date().toISOString(),
    version: 1,
    eventIds: [],
  });
  /** `n` stored by jobs in `status`: also a buffered one, stored behind the buffer's back. */
  const storeAs = async (n: Notification, status: NotificationStatus) => {
    await m.Notification.create({
      _id: n.id,
      ...n,
      createdAt: new Date(n.createdAt),
      status,
      deliveredAt: status === 'undelivered' ? null : new Date(),
      readAt: status === 'read' ? new Date() : null,
      persistedAt: new Date(),
    });
    return n.id;
  };
  const store = (userId: string, status: NotificationStatus) => storeAs(make(userId), status);
  const mongoUnread = (userId: string) =>
    m.Notification.countDocuments({ userId, status: { $in: [...UNREAD_STATUSES] } });

  /** Each command's filter on `notifications`, as the driver sent it (command monitoring). */
  const sentFilters: Array<{ command: string; filter: Record<string, unknown> }> = [];

  before(async () => {
    // The services' connection options, commands monitored.
    mongo = await mongoose
      .createConnection(config.mongo.url, { ...connectionOptions(config), monitorCommands: true })
      .asPromise();
    mongo.getClient().on('commandStarted', (e: driver.CommandStartedEvent) => {
      for (const filter of notificationFilters(e)) sentFilters.push({ command: e.commandName, filter });
    });
    m = models(mongo);
    await ensureIndexes(m);
    redis = await connectRedis(config, testLogger);
  });
  after(async () => {
    await mongo.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('rebuilds a missing counter from MongoDB plus the unread notifications only the buffer holds', async () => {
    const user = 'rebuild';
    await store(user, 'undelivered');
    await store(user, 'delivered');
    await store(user, 'read');
    const both = make(user); // buffered and already stored: counted once
    await bufferNotification(redis, both, 60);
    await storeAs(both, 'undelivered');
    await bufferNotification(redis, make(user), 60);
    const readEarly = make(user);
    await bufferNotification(redis, readEarly, 60);
    await redis.set(keys.readBeforeStored(user, readEarly.id), String(Date.now()));

    const first = await readUnread(redis, m, user);
    assert.equal(first.count, 4, '2 stored + 1 stored and buffered + 1 only buffered');
    const cached = await readUnread(redis, m, user);
    assert.deepEqual(cached, first, 'an existing counter is read, not rebuilt');
  });

  it('does not store a rebuild while a read is between its MongoDB update and its count change', async () => {
    const user = 'halfway';
    const id = await store(user, 'undelivered');
    await duringUnreadChange(redis, user, async () => {
      await m.Notification.updateOne({ _id: id }, { $set: { status: 'read' } });
      assert.equal((await readUnread(redis, m, user)).count, 0, 'answers what it counted');
      assert.equal(await redis.get(keys.unreadCount(user)), null, 'but does not store it mid-change');
    });
    assert.equal((await readUnread(redis, m, user)).count, 0);
    assert.equal(await redis.get(keys.unreadCount(user)), '0', 'stored once the change is over');
  });

  it('counts a read once however many times and however concurrently it is repeated', async () => {
    const user = 'racer';
    const storedId = await store(user, 'delivered');
    const buffered = make(user);
    await bufferNotification(redis, buffered, 60);
    await store(user, 'undelivered');
    assert.equal((await readUnread(redis, m, user)).count, 3);

    const outcomes = await Promise.all([
      ...Array.from({ length: 10 }, () => markRead(deps(), storedId, user)),
      ...Array.from({ length: 10 }, () => markRead(deps(), buffered.id, user)),
    ]);
    assert.equal(outcomes.filter((o) => o.found && o.countChanged).length, 2, 'one transition per notification');
    assert.equal((await readUnread(redis, m, user)).count, 1);
    assert.equal(await mongoUnread(user), 1, 'MongoDB agrees (the buffered one will be stored as read)');
  });

  it("keeps a read that jobs' insert overtakes: stored unread between the lookup and the read mark", async () => {
    const user = 'overtaken';
    const n = make(user);
    await bufferNotification(redis, n, 60);
    assert.equal((await readUnread(redis, m, user)).count, 1);
    // jobs stores the buffered notification (unread: no read mark yet) right after the read's
    // lookup found it not stored, before the read marks it: the real model, with the insert put
    // in that gap.
    let raced = false;
    const Notification = new Proxy(m.Notification, {
      get(target, prop) {
        if (prop === 'findOne' && !raced) {
          return (...args: Parameters<typeof target.findOne>) => {
            const query = target.findOne(...args);
            return {
              lean: async () => {
                const found: unknown = await query.lean();
                raced = true;
                await storeAs(n, 'delivered');
                return found;
              },
            };
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const outcome = await markRead({ ...deps(), models: { ...m, Notification } }, n.id, user);
    assert.ok(raced, 'the insert landed in the gap');
    assert.ok(outcome.found && outcome.countChanged, JSON.stringify(outcome));
    assert.equal((await m.Notification.findById(n.id).lean())?.status, 'read', 'stored as read, not left unread');
    assert.equal((await readUnread(redis, m, user)).count, 0);
  });

  it('read-all reaches stored and buffer-only notifications and leaves the count at zero', async () => {
    const user = 'everything';
    await store(user, 'undelivered');
    await store(user, 'delivered');
    const buffered = make(user);
    await bufferNotification(redis, buffered, 60);
    const before = await readUnread(redis, m, user);
    assert.equal(before.count, 3);
    assert.equal(await markAllRead(deps(), user), 3);
    const after = await readUnread(redis, m, user);
    assert.equal(after.count, 0);
    assert.ok(after.version > before.version);
    assert.ok(await redis.get(keys.readBeforeStored(user, buffered.id)), 'jobs will store the buffered one as read');
    assert.equal(await mongoUnread(user), 0);
    assert.equal(await markAllRead(deps(), user), 0);
    assert.equal((await readUnread(redis, m, user)).version, after.version, 'nothing changed, no new version');
  });

  it('read-all does not count again a notification read while only the buffer held it', async () => {
    const user = 'readbeforestored';
    const n = make(user);
    await bufferNotification(redis, n, 60);
    await store(user, 'delivered');
    assert.equal((await readUnread(redis, m, user)).count, 2);
    const read = await markRead(deps(), n.id, user);
    assert.ok(read.found && read.countChanged);
    assert.equal((await readUnread(redis, m, user)).count, 1);
    // jobs stores it with the state it read before the mark (unread), its switch to read not yet run.
    await storeAs(n, 'delivered');
    assert.equal(await markAllRead(deps(), user), 1, 'the other one, which was still unread');
    assert.equal((await readUnread(redis, m, user)).count, 0, 'not -1: the first read was counted once');
    assert.equal(await mongoUnread(user), 0);
  });

  /**
   * MongoDB through a proxy that holds its answers from the given command on: the write lands,
   * the producer's deadline passes, and the client is told to retry (503).
   */
  async function withLateAnswers(commands: string[], run: (late: ReturnType<typeof deps>) => Promise<void>) {
    const { proxy, config: viaProxy } = await mongoBehindProxy({
      ...config,
      mongo: { ...config.mongo, queryTimeoutMs: 1000 },
    });
    const slow = await connectMongo(viaProxy, testLogger);
    try {
      proxy.holdAnswersAfter(...commands.map((c) => mongoCommand(c, 'notifications')));
      await run({ ...deps(), models: models(slow), batchTimeoutMs: 1000 });
    } finally {
      proxy.releaseAnswers();
      await slow.close();
      await proxy.close();
    }
  }

  it('a read-all whose update lands past its deadline: the read-all the client retries leaves the count at zero', async () => {
    const user = 'lateall';
    for (let i = 0; i < 3; i += 1) await store(user, 'delivered');
    assert.equal((await readUnread(redis, m, user)).count, 3);
    await withLateAnswers(['update'], async (late) => {
      await assert.rejects(markAllRead(late, user), /timed out|timeout/i, 'the update missed its deadline');
      assert.deepEqual(
        announced.filter((u) => u === user),
        [user],
        'the sockets heard of the fallen count all the same',
      );
      await eventually(async () => (await mongoUnread(user)) === 0 || undefined, {
        what: 'the update landing after the deadline',
      });
    });
    assert.equal(await markAllRead(deps(), user), 0, 'the retry finds every one read already');
    assert.equal(announced.filter((u) => u === user).length, 1, 'and announces nothing more');
    assert.equal((await readUnread(redis, m, user)).count, 0, 'and the count fell with the first attempt');
  });

  it('a read whose update lands past its deadline: the read the client retries leaves the count right', async () => {
    const user = 'lateone';
    const id = await store(user, 'delivered');
    await store(user, 'undelivered');
    assert.equal((await readUnread(redis, m, user)).count, 2);
    await withLateAnswers(['update', 'findAndModify'], async (late) => {
      await assert.rejects(markRead(late, id, user), /timed out|timeout/i, 'the update missed its deadline');
      assert.deepEqual(
        announced.filter((u) => u === user),
        [user],
        'the sockets heard of the fallen count all the same',
      );
      await eventually(async () => (await m.Notification.findById(id).lean())?.status === 'read' || undefined, {
        what: 'the update landing after the deadline',
      });
    });
    const retried = await markRead(deps(), id, user);
    assert.ok(retried.found && !retried.countChanged, 'the retry finds it read, counted already');
    assert.equal((await readUnread(redis, m, user)).count, 1, 'the other one is still unread');
  });

  it('a read-all whose update fails outright, the counter then rebuilt: the rebuild counts the marked ones read, and the retry leaves 0', async () => {
    const user = 'failedall';
    for (let i = 0; i < 3; i += 1) await store(user, 'delivered');
    assert.equal((await readUnread(redis, m, user)).count, 3);
    await redis.del(keys.unreadCount(user)); // missing: 30 idle days, or a Redis that lost it
    // An update that never reaches MongoDB (a failover, a pool that timed out).
    const Notification = new Proxy(m.Notification, {
      get(target, prop) {
        if (prop === 'updateMany') return () => Promise.reject(new Error('no server selected'));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await assert.rejects(markAllRead({ ...deps(), models: { ...m, Notification } }, user), /no server selected/);
    assert.equal(await mongoUnread(user), 3, 'nothing landed');
    assert.equal((await readUnread(redis, m, user)).count, 0, 'rebuilt: the reads under way are counted as read');
    assert.equal(await markAllRead(deps(), user), 0, 'the retry lowers nothing more');
    assert.equal(await mongoUnread(user), 0, 'and lands the reads');
    assert.equal((await readUnread(redis, m, user)).count, 0);
  });

  it('names the user in every command it sends to notifications (or one _id)', () => {
    // On MongoDB an `_id: { $in }` alone is an index lookup; FerretDB 1.24 pushes neither `$in`
    // nor `$nin` down to PostgreSQL and reads the whole collection for it: two seconds and a
    // core per call on an aged store, for every user whose count is rebuilt. The user's id lets
    // it read only that user's share (docs/persistence.md).
    assert.ok(sentFilters.length > 20, `the tests above sent commands (${sentFilters.length})`);
    const unscoped = sentFilters.filter(({ filter }) => !('userId' in filter) && typeof filter._id !== 'string');
    assert.deepEqual(unscoped, [], 'commands on notifications that name neither the user nor one _id');
  });
});

/** The filters of a command on the notifications collection (none for other commands). */
function notificationFilters(e: driver.CommandStartedEvent): Array<Record<string, unknown>> {
  const c = e.command as Record<string, unknown>;
  if (c[e.commandName] !== 'notifications') return [];
  const list = (v: unknown) => (Array.isArray(v) ? (v as Array<Record<string, unknown>>) : []);
  switch (e.commandName) {
    case 'find':
      return [(c.filter ?? {}) as Record<string, unknown>];
    case 'count':
    case 'findAndModify':
      return [(c.query ?? {}) as Record<string, unknown>];
    case 'aggregate':
      return list(c.pipeline).flatMap((stage) => (stage.$match ? [stage.$match as Record<string, unknown>] : []));
    case 'update':
      return list(c.updates).map((u) => u.q as Record<string, unknown>);
    case 'delete':
      return list(c.deletes).map((d) => d.q as Record<string, unknown>);
    default:
      return [];
  }
}

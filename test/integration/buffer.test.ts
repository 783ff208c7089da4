import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ackedAt, findBufferedOwner } from '../../shared/buffer.js';
import { ackNotifications, bufferNotification, nextSeq, readPending } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import type { Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('buffer');

function notification(id: string, userId: string, seq: number, priority: number): Notification {
  return {
    id,
    userId,
    seq,
    type: 'LIKE',
    priority,
    actors: ['actor'],
    actorCount: 1,
    objectId: 'post1',
    message: 'actor liked your post',
    createdAt: new Date().toISOString(),
    version: 1,
    eventIds: [`e-${id}`],
  };
}

describe('the Redis notification buffer', () => {
  let redis: Redis;
  before(async () => {
    redis = await connectRedis(config, testLogger);
  });
  after(async () => {
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('hands out strictly increasing per-user seq numbers', async () => {
    const seqs = await Promise.all(Array.from({ length: 20 }, () => nextSeq(redis, 'seq-user')));
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(await nextSeq(redis, 'other-user'), 1);
  });

  it('replays pending notifications by priority, then oldest first', async () => {
    await bufferNotification(redis, notification('promo', 'u1', 1, 1), 60);
    await bufferNotification(redis, notification('like-a', 'u1', 2, 5), 60);
    await bufferNotification(redis, notification('security', 'u1', 3, 9), 60);
    await bufferNotification(redis, notification('like-b', 'u1', 4, 5), 60);
    const pending = await readPending(redis, 'u1', 10);
    assert.deepEqual(
      pending.notifications.map((n) => n.id),
      ['security', 'like-a', 'like-b', 'promo'],
    );
    assert.equal(pending.total, 4);
    const limited = await readPending(redis, 'u1', 2);
    assert.deepEqual(
      limited.notifications.map((n) => n.id),
      ['security', 'like-a'],
    );
    assert.equal(limited.total, 4);
  });

  it('writes extra marks in the same transaction as the notification', async () => {
    await bufferNotification(redis, notification('marked', 'u2', 1, 5), 60, [
      { key: keys.eventSeen('u2', 'evt-1'), ttlMs: 60_000 },
    ]);
    assert.equal(await redis.get(keys.eventSeen('u2', 'evt-1')), '1');
  });

  it("acks only the owner's notifications, idempotently", async () => {
    await bufferNotification(redis, notification('mine', 'owner', 1, 5), 60);
    const foreign = await ackNotifications(redis, 'intruder', ['mine'], 60);
    assert.equal(foreign.get('mine'), 'not-found');
    assert.equal((await readPending(redis, 'owner', 10)).total, 1, 'a foreign ack changes nothing');

    const first = await ackNotifications(redis, 'owner', ['mine', 'missing'], 60, 1234);
    assert.deepEqual(Object.fromEntries(first), { mine: 'acked', missing: 'not-found' });
    assert.equal((await readPending(redis, 'owner', 10)).total, 0);
    assert.deepEqual(await ackedAt(redis, 'owner', ['mine', 'missing']), [1234, null]);

    const again = await ackNotifications(redis, 'owner', ['mine'], 60, 9999);
    assert.equal(again.get('mine'), 'already-acked');
    assert.deepEqual(await ackedAt(redis, 'owner', ['mine']), [1234], 'the first ack time stands');
  });

  it('keeps the pending set exact under 50 concurrent acks', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `c${i}`);
    for (const [i, id] of ids.entries()) await bufferNotification(redis, notification(id, 'busy', i + 1, 5), 60);
    const toAck = ids.slice(0, 50);
    const outcomes = await Promise.all(toAck.map((id) => ackNotifications(redis, 'busy', [id], 60)));
    assert.ok(outcomes.every((o) => [...o.values()][0] === 'acked'));
    const left = await readPending(redis, 'busy', 100);
    assert.deepEqual(left.notifications.map((n) => n.id).sort(), ids.slice(50).sort());
  });

  it('finds the user of a notification known only by id (dev mode without a caller), on every node', async () => {
    // Every key of a notification carries its user: only a scan can name the user from the id.
    for (let i = 0; i < 12; i++) await bufferNotification(redis, notification(`owned-${i}`, `owner-${i}`, 1, 5), 60);
    for (let i = 0; i < 12; i++)
      assert.equal(await findBufferedOwner(redis, config.redis.keyPrefix, `owned-${i}`), `owner-${i}`);
    assert.equal(await findBufferedOwner(redis, config.redis.keyPrefix, 'owned-none'), undefined);
    assert.equal(await findBufferedOwner(redis, 'another-prefix:', 'owned-1'), undefined, 'only under its own prefix');
  });

  it('drops index entries whose notification expired', async () => {
    await bufferNotification(redis, notification('short', 'expiring', 1, 5), 60);
    await redis.del(keys.notification('expiring', 'short'));
    const pending = await readPending(redis, 'expiring', 10);
    assert.equal(pending.total, 0);
    assert.equal(await redis.zcard(keys.inbox('expiring')), 0);
  });
});

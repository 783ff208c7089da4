import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis as RedisServer } from 'ioredis';
import { commitEvents } from '../../consumer/commit.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { migrateKeys } from '../../scripts/redis-migrate-keys.js';
import { ackedAt } from '../../shared/buffer.js';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readReplayState } from '../../ws-server/replay-state.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('migratekeys');
const prefix = config.redis.keyPrefix;
/** To a cluster the keys whose names stay are copied too; in place they stay where they are. */
const moving = config.redis.cluster !== undefined;

/**
 * scripts/redis-migrate-keys.ts: what Redis held under the names from before the hash tags is
 * found by the new code afterwards. The old names are written to the single server; the target is
 * the configured Redis (the same server, or a cluster with TEST_REDIS_CLUSTER: the move to a cluster).
 */
describe('the key migration of issue #17', () => {
  let old: RedisServer;
  let redis: Redis;
  before(async () => {
    old = new RedisServer(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix: '' });
    redis = await connectRedis(config, testLogger);
  });
  after(async () => {
    await old.del(...(await old.keys(`${prefix}*`)).concat(`${prefix}none`));
    old.disconnect();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it("carries a user's seq, unread version, pending and acked notifications, marks and preferences over, with their TTLs", async () => {
    const body = (id: string, seq: number, eventId: string) =>
      JSON.stringify({
        userId: 'mia',
        type: 'ORDER',
        priority: 9,
        objectId: 'o',
        id,
        createdAt: new Date().toISOString(),
        actors: [],
        actorCount: 0,
        message: 'has shipped',
        version: 1,
        eventIds: [eventId],
        seq,
      });
    await old
      .multi()
      .set(`${prefix}notif:n1`, body('n1', 40, 'ev1'), 'EX', 3600)
      .set(`${prefix}notif:n2`, body('n2', 41, 'ev2'), 'EX', 3600)
      .zadd(`${prefix}inbox:mia`, 40, 'n1')
      .set(`${prefix}seq:mia`, 41)
      .set(`${prefix}unread:mia`, 2, 'EX', 3600)
      .set(`${prefix}unread:v:mia`, 17)
      .set(`${prefix}acked:n2`, 1234, 'EX', 3600)
      .hset(`${prefix}timeline:n2`, 'acked', 1234)
      .hset(`${prefix}timeline:ev1`, 'accepted', 1000)
      .set(`${prefix}dedupe:event:ev1`, 'n1', 'EX', 3600)
      .set(`${prefix}prefs:mia`, '{"mutedTypes":[],"promotionalOptOut":false,"doNotDisturb":null}')
      .set(`${prefix}stored:mia`, 5)
      .set(`${prefix}acked:gone`, 1, 'EX', 60) // its notification is not buffered: its user is unknown
      .hset(`${prefix}agg:mia:LIKE:p1`, 'n', 1) // a minute's window, not carried over
      .set(`${prefix}name:mia`, 'Mia') // unchanged name
      .exec();

    const report = await migrateKeys(old, redis, prefix, { deleteOld: true, copyUnchanged: moving });
    assert.deepEqual(report, { copied: moving ? 13 : 12, superseded: 0, skipped: 2 });

    assert.equal(await redis.get(keys.unreadVersion('mia')), '17', 'versions go on from where clients saw them');
    assert.equal(await redis.get(keys.unreadCount('mia')), '2');
    assert.equal(await redis.get(keys.storedCount('mia')), '5');
    assert.equal(await redis.get(keys.eventSeen('mia', 'ev1')), 'n1');
    assert.deepEqual(await redis.hgetall(keys.timeline('mia', 'ev1')), { accepted: '1000' });
    assert.deepEqual(await ackedAt(redis, 'mia', ['n1', 'n2']), [null, 1234]);
    const ttl = await redis.pttl(keys.notification('mia', 'n1'));
    assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `the TTL is kept (${ttl} ms)`);
    const state = await readReplayState(
      redis,
      prefix,
      'mia',
      { limit: 10 },
      { instanceId: 'migrate-test', ttlMs: 60_000 },
    );
    assert.deepEqual(
      state.notifications.map((n) => n.id),
      ['n1'],
      'the pending notification replays',
    );
    assert.deepEqual(state.unread, { count: 2, version: 17 });
    assert.ok(state.preferences);
    assert.equal(await redis.get(keys.userName('mia')), 'Mia');
    const oldNames = (await old.keys(`${prefix}*`)).filter((k) => !k.includes('{u:'));
    const left = [`${prefix}acked:gone`, `${prefix}agg:mia:LIKE:p1`, ...(moving ? [] : [`${prefix}name:mia`])];
    assert.deepEqual(oldNames.sort(), left.sort(), 'copied keys deleted');

    // The seq counter goes on: a client resuming after seq 41 is sent the next notification.
    const event = { type: 'ORDER', targetId: 'mia', orderId: 'o2', eventId: 'ev3' } as ParsedEvent;
    const settings = {
      keyPrefix: prefix,
      eventWindowSeconds: 60,
      actionWindowMs: 1000,
      aggregationWindowMs: 1000,
      bufferTtlSeconds: 60,
      rateLimitActorPerMinute: 100,
      rateLimitRecipientPerMinute: 100,
      wakeChannelPrefix: keys.wakeChannelPrefix(prefix),
    };
    const [result] = await commitEvents(redis, settings, [
      { event, decision: { action: 'deliver' }, actorName: 'Someone' },
    ]);
    assert.ok(result && !(result instanceof Error) && 'json' in result);
    assert.equal((JSON.parse(result.json!) as { seq: number }).seq, 42);
  });
});

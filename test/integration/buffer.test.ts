import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { commitEvents, type CommitInput, type CommitResult } from '../../consumer/commit.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { ackedAt, findBufferedOwner } from '../../shared/buffer.js';
import { ackNotifications, bufferNotification, readPending } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { decodeNotification, type Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readReplayState } from '../../ws-server/replay-state.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { commitSettings } from '../helpers/commit-settings.js';

const { config } = testEnv('buffer');

/** A notification as the ack and owner-lookup cases set it up (the state a commit leaves). */
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

// The writer and reader the services run: consumer/commit.lua through commitEvents, and
// ws-server/replay-state.lua through readReplayState (what AUTH replays).
const settings = commitSettings(config);
const route = { instanceId: 'buffer-test', ttlMs: 60_000 };

function input(event: ParsedEvent): CommitInput {
  return { event, decision: { action: 'deliver' }, actorName: 'Actor' };
}

/** The notification one commit buffered; fails the test on any other outcome. */
function committed(result: CommitResult | Error | undefined): Notification {
  assert.ok(result && !(result instanceof Error) && result.outcome === 'created', `committed: ${String(result)}`);
  return decodeNotification(result.json);
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

  it('hands out strictly increasing per-user seq numbers, to concurrent commits too', async () => {
    // 20 commits in flight at once, each its own pipeline: the seq comes from the script's INCR.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        commitEvents(redis, settings, [
          input({ type: 'MENTION', actorId: `a${i}`, targetId: 'seq-user', postId: `p${i}`, eventId: `seq-${i}` }),
        ]),
      ),
    );
    const seqs = results.map(([r]) => committed(r).seq);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const [other] = await commitEvents(redis, settings, [
      input({ type: 'MENTION', actorId: 'a0', targetId: 'other-user', postId: 'p0', eventId: 'seq-other' }),
    ]);
    assert.equal(committed(other).seq, 1, "another user's seq starts on its own");
  });

  it('replays pending notifications by priority, then oldest first', async () => {
    // Committed in this order (seq 1..4): promotional, social, transactional, social.
    const events: ParsedEvent[] = [
      { type: 'PROMO', targetId: 'u1', campaignId: 'c1', eventId: 'promo' },
      { type: 'LIKE', actorId: 'a1', targetId: 'u1', postId: 'post-a', eventId: 'like-a' },
      { type: 'SECURITY', targetId: 'u1', eventId: 'security' },
      { type: 'LIKE', actorId: 'a2', targetId: 'u1', postId: 'post-b', eventId: 'like-b' },
    ];
    const ids = new Map<string, string>();
    for (const event of events) {
      const [result] = await commitEvents(redis, settings, [input(event)]);
      ids.set(committed(result).id, event.eventId);
    }
    const order = (ns: Notification[]) => ns.map((n) => ids.get(n.id));

    const all = await readReplayState(redis, config.redis.keyPrefix, 'u1', { limit: 10 }, route);
    assert.deepEqual(order(all.notifications), ['security', 'like-a', 'like-b', 'promo']);
    assert.equal(all.total, 4);
    const limited = await readReplayState(redis, config.redis.keyPrefix, 'u1', { limit: 2 }, route);
    assert.deepEqual(order(limited.notifications), ['security', 'like-a']);
    assert.equal(limited.total, 4, 'the total counts what the limit left out');
  });

  it('reads a resume band by band: the first `limit` after lastSeq in replay order, the rest counted', async () => {
    // Committed in this order (seq 1..9): promotional, social, transactional, three times over.
    const kinds: Array<(i: number) => ParsedEvent> = [
      (i) => ({ type: 'PROMO', targetId: 'bands', campaignId: `c${i}`, eventId: `promo-${i}` }),
      (i) => ({ type: 'MENTION', actorId: `a${i}`, targetId: 'bands', postId: `p${i}`, eventId: `mention-${i}` }),
      (i) => ({ type: 'SECURITY', targetId: 'bands', eventId: `security-${i}` }),
    ];
    const made: Notification[] = [];
    for (let i = 0; i < 3; i++)
      for (const kind of kinds) made.push(committed((await commitEvents(redis, settings, [input(kind(i))]))[0]));
    assert.deepEqual(
      made.map((n) => n.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const seqs = (ns: Notification[]) => ns.map((n) => n.seq);
    const read = (limit: number, lastSeq: number) =>
      readReplayState(redis, config.redis.keyPrefix, 'bands', { limit, lastSeq }, route);

    const all = await read(10, 4);
    assert.deepEqual(seqs(all.notifications), [6, 9, 5, 8, 7], 'priority first, then seq, after seq 4 only');
    assert.equal(all.total, 5);
    assert.equal(all.pendingInAll, 9);
    assert.equal(all.earliest?.seq, 1, 'the first written, for the replay-clean bound');
    assert.equal(all.resumeReset, false);

    const limited = await read(3, 4);
    assert.deepEqual(seqs(limited.notifications), [6, 9, 5], 'the limit stops the read inside a band');
    assert.equal(limited.total, 5, 'what the limit left out is counted');

    const atTheEnd = await read(10, 9);
    assert.deepEqual(seqs(atTheEnd.notifications), []);
    assert.equal(atTheEnd.total, 0);
    assert.equal(atTheEnd.resumeReset, false, 'a lastSeq equal to the seq is a resume from now');
  });

  it('ignores a lastSeq above the user seq and says so: a replay as without it', async () => {
    for (let i = 0; i < 3; i++)
      committed(
        (
          await commitEvents(redis, settings, [
            input({ type: 'MENTION', actorId: `a${i}`, targetId: 'restarted', postId: `p${i}`, eventId: `r-${i}` }),
          ])
        )[0],
      );
    const state = await readReplayState(redis, config.redis.keyPrefix, 'restarted', { limit: 2, lastSeq: 40 }, route);
    assert.equal(state.resumeReset, true);
    assert.deepEqual(
      state.notifications.map((n) => n.seq),
      [1, 2],
    );
    assert.equal(state.total, 3);
    assert.equal(state.seq, 3);
    const none = await readReplayState(redis, config.redis.keyPrefix, 'never-seen', { limit: 2, lastSeq: 1 }, route);
    assert.equal(none.resumeReset, true, 'no seq at all (every key of the user lost) is seq 0');
    assert.equal(none.total, 0);
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
    const [kept, gone] = await commitEvents(redis, settings, [
      input({ type: 'MENTION', actorId: 'a1', targetId: 'expiring', postId: 'p1', eventId: 'kept' }),
      input({ type: 'MENTION', actorId: 'a2', targetId: 'expiring', postId: 'p2', eventId: 'gone' }),
    ]);
    const keptId = committed(kept).id;
    const goneId = committed(gone).id;
    // What the buffer TTL does to a notification nobody acked; its inbox entry outlives it.
    await redis.del(keys.notification('expiring', goneId));
    assert.equal(await redis.zcard(keys.inbox('expiring')), 2);

    const state = await readReplayState(redis, config.redis.keyPrefix, 'expiring', { limit: 10 }, route);
    assert.deepEqual(
      state.notifications.map((n) => n.id),
      [keptId],
    );
    assert.equal(state.total, 1);
    assert.deepEqual(await redis.zrange(keys.inbox('expiring'), 0, -1), [keptId], 'the expired entry left the inbox');
  });
});

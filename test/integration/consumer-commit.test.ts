import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { commitEvents, type CommitInput, type CommitSettings } from '../../consumer/commit.js';
import { formatAggregateMessage } from '../helpers/format.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { readPending } from '../helpers/buffer.js';
import { recordCommands } from '../helpers/redis-commands.js';
import { keys } from '../../shared/keys.js';
import { parseUnpersistedMark } from '../../shared/unpersisted-mark.js';
import type { PushWakeMessage } from '../../shared/messages.js';
import { closeRedis, connectRedis, openSubscriber, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { WakeListener } from '../helpers/wake-listener.js';
import { commitSettings } from '../helpers/commit-settings.js';

const { config } = testEnv('consumercommit');

/**
 * The commit step on a real Redis: one script call per event, one pipeline per batch, and the
 * rules (dedupe, limits, aggregation, buffer, wake) applied inside it.
 */
describe('the consumer commit script', () => {
  let redis: Redis;
  let instance: WakeListener;
  const wakes = () => instance.wakes<PushWakeMessage>();
  const settings = (overrides: Partial<CommitSettings> = {}): CommitSettings => commitSettings(config, overrides);
  const like = (n: number, targetId: string, postId = `p${n}`): CommitInput => ({
    event: { type: 'LIKE', actorId: `a${n}`, targetId, postId, eventId: `e-${targetId}-${n}-${postId}` } as ParsedEvent,
    decision: { action: 'deliver' },
    actorName: `Actor ${n}`,
  });

  before(async () => {
    redis = await connectRedis(config, testLogger, 'test');
    // A ws-server instance holding batch-user's socket, as far as the wake route can tell.
    instance = await WakeListener.start(config, ['batch-user']);
  });
  after(async () => {
    await instance.close();
    await closeRedis(redis);
    await cleanupTestResources(config);
  });

  it('commits a batch of 50 events with 50 script calls in one pipeline, and wakes with each body', async () => {
    const sent = recordCommands(redis);
    const inputs = Array.from({ length: 50 }, (_, i) => like(i, 'batch-user'));
    const results = await commitEvents(redis, settings(), inputs);
    sent.restore();

    // On a cluster each of the 50 actors is counted first, in its own slot (consumer/rate-limits.ts).
    // An EVAL is the same call sent again with its text, where a server did not cache the script yet.
    const calls = sent.names.filter((name) => name === 'evalsha');
    assert.equal(calls.length, redis.isCluster ? 100 : 50, 'one request per event (and per actor on a cluster)');
    assert.deepEqual(
      sent.names.filter((name) => name !== 'evalsha' && name !== 'eval'),
      [],
      'nothing else',
    );
    assert.ok(results.every((r) => !(r instanceof Error) && r.outcome === 'created'));
    const pending = await readPending(redis, 'batch-user', 100);
    assert.equal(pending.total, 50);
    assert.deepEqual(
      pending.notifications.map((n) => n.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
      'seq in arrival order',
    );
    const first = pending.notifications[0]!;
    assert.equal(first.message, 'Actor 0 liked your post');
    assert.deepEqual(
      [first.actors, first.actorCount, first.version, first.eventIds],
      [['a0'], 1, 1, ['e-batch-user-0-p0']],
    );
    assert.equal(await redis.get(keys.eventSeen('batch-user', 'e-batch-user-0-p0')), first.id);
    assert.ok(await redis.hget(keys.timeline('batch-user', first.id), 'buffered'));
    // The mark holds the commit's time (jobs' persist sweep ages it by that, jobs/persist-sweep.ts)
    // and the version buffered (an older version's persist batch leaves it, jobs/after-write.lua).
    const mark = parseUnpersistedMark((await redis.get(keys.unpersisted('batch-user', first.id)))!);
    assert.ok(
      Math.abs(Date.now() - mark.atMs!) < 60_000,
      `the unpersisted mark holds the commit time, not ${mark.atMs}`,
    );
    assert.equal(mark.version, 1, 'the unpersisted mark names the version buffered');
    await waitFor(() => wakes().filter((w) => w.userId === 'batch-user').length === 50);
    const wake = wakes().find((w) => w.notification.id === first.id)!;
    assert.equal(wake.kind, 'push');
    assert.deepEqual(wake.notification, first, 'the wake carries the committed body');
  });

  it('answers a redelivered event with what it produced, and commits nothing twice', async () => {
    const input = like(1, 'redelivered');
    const [first] = await commitEvents(redis, settings(), [input]);
    const [again] = await commitEvents(redis, settings(), [input]);
    assert.ok(first && !(first instanceof Error) && first.outcome === 'created');
    assert.ok(again && !(again instanceof Error) && again.outcome === 'duplicate');
    assert.equal(again.notificationId, first.notificationId);
    assert.equal(again.json, first.json);
    assert.equal((await readPending(redis, 'redelivered', 10)).total, 1);
  });

  it('folds likes on one post into one aggregate whose message matches the formatter', async () => {
    const inputs = [1, 2, 3, 4].map((n) => like(n, 'agg-user', 'shared-post'));
    const results = await commitEvents(redis, settings(), inputs);
    const ids = new Set(results.map((r) => (r instanceof Error || !('notificationId' in r) ? r : r.notificationId)));
    assert.equal(ids.size, 1, 'one notification');
    const [n] = (await readPending(redis, 'agg-user', 10)).notifications;
    assert.ok(n);
    assert.equal(n.version, 4);
    assert.equal(n.actorCount, 4);
    assert.deepEqual(n.actors, ['a4', 'a3', 'a2', 'a1'], 'most recent first');
    assert.deepEqual(
      n.eventIds,
      [4, 3, 2, 1].map((k) => `e-agg-user-${k}-shared-post`),
      'newest first',
    );
    assert.equal(n.message, formatAggregateMessage('LIKE', ['Actor 4', 'Actor 3'], 4));
    const two = await commitEvents(
      redis,
      settings(),
      [1, 2].map((k) => like(k, 'agg-two', 'p')),
    );
    assert.ok(two.every((r) => !(r instanceof Error)));
    const [pair] = (await readPending(redis, 'agg-two', 10)).notifications;
    assert.equal(pair?.message, formatAggregateMessage('LIKE', ['Actor 2', 'Actor 1'], 2));
  });

  it('keeps a one-actor window in one key, and takes the full form at the second actor', async () => {
    const windowKeys = (user: string) =>
      [keys.aggregate, keys.aggregateActors, keys.aggregateEvents, keys.aggregateNames].map((k) =>
        k(user, 'LIKE', 'lazy-post'),
      );
    const [opened] = await commitEvents(redis, settings({ actionWindowMs: 1 }), [like(1, 'lazy-user', 'lazy-post')]);
    assert.ok(opened && !(opened instanceof Error) && opened.outcome === 'created');
    const [win, ...rest] = windowKeys('lazy-user');
    assert.equal(await redis.exists(win!), 1);
    assert.equal(await redis.exists(...rest), 0, 'no actors zset, eventIds list or names hash for one actor');
    const ttl = await redis.pttl(win!);
    assert.ok(ttl > 0 && ttl <= 60_000, `the window expires with the aggregation window (${ttl} ms)`);

    // The opener again (a new eventId past the action dedupe window): not counted twice.
    const again = like(1, 'lazy-user', 'lazy-post');
    await new Promise((resolve) => setTimeout(resolve, 10));
    const [repeat] = await commitEvents(redis, settings({ actionWindowMs: 1 }), [
      { ...again, event: { ...again.event, eventId: 'lazy-repeat' } },
    ]);
    assert.ok(
      repeat && !(repeat instanceof Error) && repeat.outcome === 'stale',
      'the same actor does not make a new version',
    );
    assert.equal(await redis.exists(...rest), 0);

    const more = await commitEvents(
      redis,
      settings(),
      [2, 3].map((n) => like(n, 'lazy-user', 'lazy-post')),
    );
    assert.ok(more.every((r) => !(r instanceof Error) && r.outcome === 'updated'));
    assert.equal(await redis.exists(...rest), 3, 'the second actor moves the window to its full form');
    for (const key of rest) {
      const left = await redis.pttl(key);
      assert.ok(left > 0 && left <= ttl, `${key} expires with the window`);
    }
    const [n] = (await readPending(redis, 'lazy-user', 10)).notifications;
    assert.ok(n);
    assert.equal(n.id, opened.notificationId);
    assert.deepEqual([n.version, n.actorCount, n.actors], [3, 3, ['a3', 'a2', 'a1']]);
    assert.deepEqual(
      n.eventIds,
      [3, 2, 1].map((k) => `e-lazy-user-${k}-lazy-post`),
    );
    assert.equal(n.message, formatAggregateMessage('LIKE', ['Actor 3', 'Actor 2'], 3));
  });

  it("wakes only the live instances in the user's route, inside the call, and publishes nothing for a user no instance holds", async () => {
    // Every wake of this tenant, on any instance's channel, in publish order.
    // A plain connection to one node: on a cluster PUBLISH reaches every node.
    const all = openSubscriber(redis, 'commit-test-tap');
    await all.connect();
    const published: Array<{ channel: string; userId: string }> = [];
    all.on('pmessage', (_p: string, channel: string, raw: string) =>
      published.push({ channel, userId: (JSON.parse(raw) as PushWakeMessage).userId }),
    );
    await all.psubscribe(`${keys.wakeChannelPrefix(config.redis.keyPrefix)}*`);
    const live = await WakeListener.start(config, ['routed']);
    const dead = await WakeListener.start(config, ['routed'], 200); // died without leaving: its entry expires
    const other = await WakeListener.start(config, ['someone-else']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await commitEvents(redis, settings(), [like(20, 'nobody-holds-me')]);
      await commitEvents(redis, settings(), [like(21, 'routed')]);
      await waitFor(() => live.heard.length === 1);
      assert.deepEqual(
        published,
        [{ channel: keys.wakeChannel(config.redis.keyPrefix, live.instanceId), userId: 'routed' }],
        'one PUBLISH, to the live instance only; none for the user no instance holds',
      );
      assert.deepEqual([dead.heard.length, other.heard.length], [0, 0]);
    } finally {
      all.disconnect();
      await Promise.all([live.close(), dead.close(), other.close()]);
    }
  });

  it('applies action dedupe, both rate limits and a suppression inside the call', async () => {
    const copy = like(7, 'rules-user');
    const sameAction = { ...copy, event: { ...copy.event, eventId: 'another-id-same-action' } };
    const results = await commitEvents(redis, settings({ rateLimitRecipientPerMinute: 2 }), [
      copy,
      sameAction,
      like(8, 'rules-user'),
      like(9, 'rules-user'),
      { ...like(10, 'muted-user'), decision: { action: 'suppress', reason: 'muted' } },
    ]);
    assert.deepEqual(
      results.map((r) => (r instanceof Error ? r.message : r.outcome)),
      ['created', 'duplicate_action', 'created', 'limited_recipient', 'suppressed'],
    );
    assert.ok(await redis.hget(keys.timeline('muted-user', like(10, 'muted-user').event.eventId), 'suppressed'));
    assert.equal((await readPending(redis, 'muted-user', 10)).total, 0);
  });

  it('counts a redelivered suppressed event as a duplicate, and a limited event gives back its action', async () => {
    const limits = settings({ rateLimitRecipientPerMinute: 3 });
    const muted = { ...like(20, 'quiet-rules'), decision: { action: 'suppress', reason: 'muted' } } as CommitInput;
    const [first, redelivered] = await commitEvents(redis, limits, [muted, muted]);
    assert.deepEqual(
      [first, redelivered].map((r) => (r instanceof Error ? r.message : r?.outcome)),
      ['suppressed', 'duplicate'],
    );
    // The suppressed event used one of the recipient's three a minute, its redelivery none: two fit.
    const [a, b, c] = await commitEvents(redis, limits, [
      like(21, 'quiet-rules'),
      like(22, 'quiet-rules'),
      like(23, 'quiet-rules'),
    ]);
    assert.deepEqual(
      [a, b, c].map((r) => (r instanceof Error ? r.message : r?.outcome)),
      ['created', 'created', 'limited_recipient'],
    );
    const claim = await redis.keys(`${config.redis.keyPrefix}dedupe:action:{u:quiet-rules}:*`);
    // The suppressed like and the two delivered ones hold their actions; the limited one gave its back.
    assert.equal(claim.length, 3);
  });

  it("keeps a notification's 'accepted' on its own timeline, the earliest of its events', with no key per event", async () => {
    // Two actors liking one post: one aggregate. The later-accepted event commits first.
    const first = { ...like(1, 'accepted-user', 'same-post'), acceptedAtMs: 2_000 };
    const second = { ...like(2, 'accepted-user', 'same-post'), acceptedAtMs: 1_000 };
    const [a, b] = await commitEvents(redis, settings(), [first]).then(async (one) => [
      ...one,
      ...(await commitEvents(redis, settings(), [second])),
    ]);
    assert.ok(a && !(a instanceof Error) && a.outcome === 'created', `first: ${JSON.stringify(a)}`);
    assert.ok(b && !(b instanceof Error) && b.outcome === 'updated', `second: ${JSON.stringify(b)}`);
    assert.equal(a.notificationId, b.notificationId, 'one aggregate');
    const timeline = keys.timeline('accepted-user', a.notificationId);
    assert.equal(await redis.hget(timeline, 'accepted'), '1000', 'the earliest acceptance, whatever the commit order');
    assert.ok(await redis.hget(timeline, 'buffered'));
    assert.ok((await redis.ttl(timeline)) > 0, 'the timeline expires with the buffer');
    for (const input of [first, second])
      assert.equal(await redis.exists(keys.timeline('accepted-user', input.event.eventId)), 0, 'no key per event');

    // A suppressed event makes no notification: its own key holds its stages.
    const muted = {
      ...like(3, 'accepted-user'),
      acceptedAtMs: 3_000,
      decision: { action: 'suppress', reason: 'muted' },
    };
    await commitEvents(redis, settings(), [muted as CommitInput]);
    const own = await redis.hgetall(keys.timeline('accepted-user', muted.event.eventId));
    assert.equal(own.accepted, '3000');
    assert.ok(own.suppressed);
  });

  it("replaces an 'accepted' that is not a number instead of failing the event", async () => {
    const first = { ...like(1, 'garbled-user', 'same-post'), acceptedAtMs: 5_000 };
    const [a] = await commitEvents(redis, settings(), [first]);
    assert.ok(a && !(a instanceof Error) && a.outcome === 'created');
    const timeline = keys.timeline('garbled-user', a.notificationId);
    await redis.hset(timeline, 'accepted', 'not-a-time');
    const [b] = await commitEvents(redis, settings(), [
      { ...like(2, 'garbled-user', 'same-post'), acceptedAtMs: 6_000 },
    ]);
    assert.ok(
      b && !(b instanceof Error) && b.outcome === 'updated',
      `second: ${b instanceof Error ? b.message : b?.outcome}`,
    );
    assert.equal(await redis.hget(timeline, 'accepted'), '6000');
  });

  it("counts an actor's events across recipients, after the dedupe rules", async () => {
    // One actor, three recipients (three slots on a cluster), a limit of 2 a minute.
    const byActor = (n: number, targetId: string): CommitInput => ({
      ...like(n, targetId),
      event: { ...like(n, targetId).event, actorId: 'busy-actor' },
    });
    const limited = settings({ rateLimitActorPerMinute: 2 });
    const first = await commitEvents(redis, limited, [byActor(1, 'fan-a'), byActor(2, 'fan-b'), byActor(3, 'fan-c')]);
    assert.deepEqual(
      first.map((r) => (r instanceof Error ? r.message : r.outcome)),
      ['created', 'created', 'limited_actor'],
    );
    // A redelivery of a committed event is what it produced, whatever its actor's count says.
    const [again] = await commitEvents(redis, limited, [byActor(1, 'fan-a')]);
    assert.ok(again && !(again instanceof Error) && again.outcome === 'duplicate');
    const [later] = await commitEvents(redis, limited, [byActor(4, 'fan-d')]);
    assert.ok(later && !(later instanceof Error) && later.outcome === 'limited_actor', 'the window is still full');
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000; // a hang guard, not a speed assertion
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

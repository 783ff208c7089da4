import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { readPending } from '../helpers/buffer.js';
import { eventsProcessed } from '../helpers/consumer-metrics.js';
import { findFollow, models, type Models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { intakeAuthorization, startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { crowdFollowerId, demoFollowEdges, seedFollowGraph } from '../../seed/follows.js';

type Json = Record<string, unknown>;
/** Following and unfollowing are the application backend's, with the intake API key. */
const BACKEND = 'backend';

/** The follow graph's HTTP API, the FOLLOW/UNFOLLOW events, and the seed's follow graph. */
describe('follows: HTTP API and FOLLOW/UNFOLLOW events', () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  before(async () => {
    p = await startPipeline('followsapi', { INTAKE_API_KEYS: randomBytes(32).toString('base64url') });
    redis = await connectRedis(p.config, testLogger, 'test');
    mongo = await connectMongo(p.config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    await closeRedis(redis);
    await mongo.close();
    await p.close();
  });

  async function call(
    method: string,
    path: string,
    asUser: string | null,
    body?: unknown,
  ): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (asUser === BACKEND) Object.assign(headers, intakeAuthorization(p.config));
    else if (asUser !== null) headers.authorization = `Bearer ${await p.token(asUser)}`;
    const res = await fetch(`${p.producerUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  }

  it('follows over HTTP: records the edge at once, notifies the followed user once, and a repeat changes nothing', async () => {
    const processedBefore = await eventsProcessed(p.consumerPort);
    const res = await call('POST', '/users/user3/follows', BACKEND, { targetId: 'user4' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.followerId, 'user3');
    assert.equal(res.body.followeeId, 'user4');
    assert.equal(res.body.muted, false);
    assert.equal(typeof res.body.eventId, 'string');
    assert.ok(await findFollow(m.Follow, 'user3', 'user4'), 'edge stored before the answer');

    // Counted once the consumer settled the FOLLOW event (it acks only after the event's work,
    // the notification buffered, is done), not at the first notification seen, while that
    // work could still add a second one.
    await eventually(async () => (await eventsProcessed(p.consumerPort)) >= processedBefore + 1, {
      what: 'the consumer to settle the FOLLOW event',
    });
    const pending = (await readPending(redis, 'user4', 10)).notifications;
    assert.equal(pending.length, 1);
    assert.equal(pending[0]!.message, 'Linus started following you');

    const again = await call('POST', '/users/user3/follows', BACKEND, { targetId: 'user4' });
    assert.equal(again.status, 200);
    assert.equal(again.body.eventId, null);
    assert.equal(await m.Follow.countDocuments({ followerId: 'user3', followeeId: 'user4' }), 1);
  });

  it('refuses bad follow requests with a clear error', async () => {
    const self = await call('POST', '/users/user3/follows', BACKEND, { targetId: 'user3' });
    assert.equal(self.status, 400);
    assert.equal(self.body.error, 'validation_failed');

    const noTarget = await call('POST', '/users/user3/follows', BACKEND, { target: 'user4' });
    assert.equal(noTarget.status, 400);
    const fields = (noTarget.body.details as Json[]).map((d) => d.field).sort();
    assert.deepEqual(fields, ['target', 'targetId']);

    // A user's token, even the follower's own, cannot notify someone else; nor can no credential.
    const ownToken = await call('POST', '/users/user3/follows', 'user3', { targetId: 'user5' });
    assert.equal(ownToken.status, 401);
    assert.equal((await call('DELETE', '/users/user3/follows/user4', 'user3')).status, 401);
    const noKey = await call('POST', '/users/user3/follows', null, { targetId: 'user5' });
    assert.equal(noKey.status, 401);
    assert.equal(await findFollow(m.Follow, 'user3', 'user5'), null);

    const notJson = await fetch(`${p.producerUrl}/users/user3/follows`, {
      method: 'POST',
      headers: { ...intakeAuthorization(p.config), 'content-type': 'text/plain' },
      body: 'user4',
    });
    assert.equal(notJson.status, 415);

    const badMute = await call('PUT', '/users/user3/follows/user4', 'user3', { muted: 'yes' });
    assert.equal(badMute.status, 400);
  });

  it('mutes, unmutes and unfollows; a missing edge is a 404', async () => {
    assert.equal((await call('POST', '/users/user6/follows', BACKEND, { targetId: 'user7' })).status, 201);
    const muted = await call('PUT', '/users/user6/follows/user7', 'user6', { muted: true });
    assert.equal(muted.status, 200);
    assert.equal(muted.body.muted, true);
    assert.equal((await findFollow(m.Follow, 'user6', 'user7'))?.muted, true);

    const following = await call('GET', '/users/user6/following', 'user6');
    assert.deepEqual(
      (following.body.following as Json[]).map((f) => [f.userId, f.muted]),
      [['user7', true]],
    );
    const seenByOthers = await call('GET', '/users/user6/following', 'user7');
    assert.equal((seenByOthers.body.following as Json[])[0]!.muted, undefined, 'a mute is private to the follower');

    const unmuted = await call('PUT', '/users/user6/follows/user7', 'user6', { muted: false });
    assert.equal(unmuted.body.muted, false);

    assert.equal((await call('PUT', '/users/user6/follows/user9', 'user6', { muted: true })).status, 404);

    const gone = await call('DELETE', '/users/user6/follows/user7', BACKEND);
    assert.equal(gone.status, 200);
    assert.equal(typeof gone.body.eventId, 'string');
    assert.equal(await findFollow(m.Follow, 'user6', 'user7'), null);
    const twice = await call('DELETE', '/users/user6/follows/user7', BACKEND);
    assert.equal(twice.status, 404);
    assert.equal(twice.body.error, 'not_following');
  });

  it('pages followers and following with a cursor: every edge once, in id order', async () => {
    const followers = Array.from({ length: 7 }, (_, i) => `pager${i}`);
    await m.Follow.insertMany(
      followers.map((followerId) => ({ followerId, followeeId: 'user8', muted: false, createdAt: new Date() })),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&after=${cursor}` : '';
      const res = await call('GET', `/users/user8/followers?limit=3${q}`, 'user1');
      assert.equal(res.status, 200);
      seen.push(...(res.body.followers as Json[]).map((f) => f.userId as string));
      cursor = res.body.nextCursor as string | null;
      pages++;
    } while (cursor !== null);
    assert.deepEqual(seen, [...followers].sort());
    assert.equal(pages, 3);

    const following = await call('GET', '/users/pager3/following', 'pager3');
    assert.deepEqual(
      (following.body.following as Json[]).map((f) => f.userId),
      ['user8'],
    );

    const bad = await call('GET', '/users/user8/followers?after=nonsense', 'user1');
    assert.equal(bad.status, 400);
    assert.equal((bad.body.details as Json[])[0]!.field, 'after');
    assert.equal((await call('GET', '/users/user8/followers?limit=1000', 'user1')).status, 400);
  });

  it("reads anyone's followers and following with any valid token (a public graph); no token or the intake key: 401", async () => {
    assert.equal((await call('POST', '/users/reader1/follows', BACKEND, { targetId: 'reader2' })).status, 201);
    // Another user's token, neither the follower's nor the followee's: 200 (docs/http-api.md "Follows").
    const followers = await call('GET', '/users/reader2/followers', 'reader9');
    assert.equal(followers.status, 200);
    assert.deepEqual(
      (followers.body.followers as Json[]).map((f) => f.userId),
      ['reader1'],
    );
    const following = await call('GET', '/users/reader1/following', 'reader9');
    assert.equal(following.status, 200);
    assert.deepEqual(
      (following.body.following as Json[]).map((f) => f.userId),
      ['reader2'],
    );
    for (const path of ['/users/reader2/followers', '/users/reader1/following']) {
      const anonymous = await call('GET', path, null);
      assert.equal(anonymous.status, 401, path);
      assert.equal(anonymous.body.followers ?? anonymous.body.following, undefined, 'nothing of the list');
      assert.equal((await call('GET', path, BACKEND)).status, 401, `${path} with the intake key`);
    }
  });

  it('a FOLLOW event records the edge and an UNFOLLOW event removes it, idempotently', async () => {
    const follow = await p.post('/events', { type: 'FOLLOW', actorId: 'user9', targetId: 'user10' });
    assert.equal(follow.status, 202);
    await eventually(() => findFollow(m.Follow, 'user9', 'user10').then((e) => e ?? undefined), {
      what: 'the edge recorded',
    });
    const unfollow = await p.post('/events', { type: 'UNFOLLOW', actorId: 'user9', targetId: 'user10' });
    assert.equal(unfollow.status, 202);
    await eventually(async () => (await findFollow(m.Follow, 'user9', 'user10')) === null, {
      what: 'the edge removed',
    });
    // An unfollow notifies nobody: user10 holds exactly the FOLLOW notification.
    const pending = await eventually(
      async () => {
        const items = (await readPending(redis, 'user10', 10)).notifications;
        return items.length > 0 ? items : undefined;
      },
      { what: 'the FOLLOW notification buffered for user10' },
    );
    assert.deepEqual(
      pending.map((n) => n.type),
      ['FOLLOW'],
    );
  });

  it('validates POST events: an author and a post, no target', async () => {
    const withTarget = await p.post('/events', { type: 'POST', actorId: 'user1', postId: 'post1', targetId: 'user2' });
    assert.equal(withTarget.status, 400);
    assert.deepEqual(
      (withTarget.body.details as Json[]).map((d) => d.field),
      ['targetId'],
    );
    const noPost = await p.post('/events', { type: 'POST', actorId: 'user1' });
    assert.equal(noPost.status, 400);
  });

  it('seeds a follow graph with a crowd, idempotently', async () => {
    // Measured in the store, not from the seed's own return value: the demo edges some earlier
    // case (or the pipeline's demo seed) already made must not be inserted again.
    const edges = demoFollowEdges(150);
    const isEdge = { $or: edges.map(({ followerId, followeeId }) => ({ followerId, followeeId })) };
    const present = await m.Follow.countDocuments(isEdge);
    assert.ok(present < edges.length, `the crowd is not there yet (${present} of ${edges.length} edges)`);
    const before = await m.Follow.countDocuments();
    await seedFollowGraph(m, 150);
    const afterFirst = await m.Follow.countDocuments();
    assert.equal(afterFirst - before, edges.length - present, 'the first run inserts exactly the missing edges');
    assert.equal(await m.Follow.countDocuments(isEdge), edges.length, 'every edge exists');
    await seedFollowGraph(m, 150);
    assert.equal(await m.Follow.countDocuments(), afterFirst, 'the second run inserts nothing');
    assert.equal(await m.Follow.countDocuments({ followerId: { $regex: '^fan' } }), 150);
    assert.ok(await findFollow(m.Follow, crowdFollowerId(149), 'user1'));
    assert.ok(await findFollow(m.Follow, 'user2', 'user1'));
  });
});

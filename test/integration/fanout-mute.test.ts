import assert from 'node:assert/strict';
import type { Connection } from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { readPending } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/**
 * A POST reaches every follower of its author once, over several pages; a muted follow and an
 * unfollowed user get nothing. FANOUT_CHUNK_SIZE=2 so even this small graph spans pages.
 */
const CHUNK = 2;
const FILLERS = Array.from({ length: 5 }, (_, i) => `fill0${i + 1}`);

describe('fan-out: mute and unfollow', () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('fanoutmute', { FANOUT_CHUNK_SIZE: String(CHUNK) });
    redis = await connectRedis(p.config, testLogger, 'test');
    mongo = await connectMongo(p.config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    for (const c of clients) c.close();
    await closeRedis(redis);
    await mongo.close();
    await p.close();
  });

  async function call(method: string, path: string, asUser: string, body?: unknown) {
    const res = await fetch(`${p.producerUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await p.token(asUser)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const pending = async (userId: string) => (await readPending(redis, userId, 50)).notifications;

  /** Posts as user1 and waits until every page of the fan-out is done (the last has fewer than CHUNK rows). */
  async function postAndWait(postId: string, notifiable: number): Promise<string> {
    const res = await p.post('/events', { type: 'POST', actorId: 'user1', postId });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const eventId = res.body.eventId as string;
    // Pages are published ahead of their work: the fan-out is over when every page is done.
    const pages = Array.from({ length: Math.floor(notifiable / CHUNK) + 1 }, (_, n) => keys.fanoutPageDone(eventId, n));
    await eventually(async () => (await redis.exists(...pages)) === pages.length, { what: 'every fan-out page done' });
    return eventId;
  }

  it('notifies every follower once across pages, and nobody through a muted or removed follow', async () => {
    for (const follower of ['user2', 'user3', 'user4']) {
      assert.equal((await call('POST', `/users/${follower}/follows`, follower, { targetId: 'user1' })).status, 201);
    }
    await m.Follow.insertMany(
      FILLERS.map((followerId) => ({ followerId, followeeId: 'user1', muted: false, createdAt: new Date() })),
    );
    assert.equal((await call('PUT', '/users/user3/follows/user1', 'user3', { muted: true })).status, 200);
    assert.equal((await call('DELETE', '/users/user4/follows/user1', 'user4')).status, 200);
    // The consumer applies the UNFOLLOW event too; let it land before posting.
    await eventually(async () => (await m.Follow.countDocuments({ followerId: 'user4', followeeId: 'user1' })) === 0, {
      what: 'the unfollow applied',
    });

    const [live] = await WsTestClient.authed(p.wsPort, { token: await p.token('user2') });
    clients.push(live);

    await postAndWait('post1', 1 + FILLERS.length);

    const [frame] = await live.waitForNotifications(1);
    assert.equal(frame!.notification.type, 'POST');
    assert.equal(frame!.notification.message, 'Ada published a new post');
    for (const follower of FILLERS) {
      const items = await pending(follower);
      assert.equal(items.length, 1, `${follower} has exactly one notification`);
      assert.equal(items[0]!.message, 'Ada published a new post');
    }
    assert.deepEqual(await pending('user3'), [], 'muted follow: nothing');
    assert.deepEqual(await pending('user4'), [], 'unfollowed: nothing');
    assert.equal(live.notifications().length, 1, 'one live notification for the connected follower');

    // Persisted once each, by the real jobs service.
    const recipients = ['user2', ...FILLERS];
    await eventually(
      async () => (await m.Notification.countDocuments({ type: 'POST', objectId: 'post1' })) >= recipients.length,
      {
        what: 'the fan-out persisted',
      },
    );
    const stored = await m.Notification.find({ type: 'POST', objectId: 'post1' }).lean();
    assert.deepEqual(stored.map((n) => n.userId).sort(), recipients.sort(), 'one stored notification per recipient');
  });

  it('unmuting brings the next post back; a later post still skips the unfollowed user', async () => {
    assert.equal((await call('PUT', '/users/user3/follows/user1', 'user3', { muted: false })).status, 200);
    await postAndWait('post2', 2 + FILLERS.length);
    const items = await pending('user3');
    assert.equal(items.length, 1);
    assert.equal(items[0]!.objectId, 'post2');
    assert.deepEqual(await pending('user4'), []);
  });
});

import assert from 'node:assert/strict';
import type { Connection } from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/**
 * How many recipients have the post's notification stored how many times: `{ 1: 5000 }` when
 * each of 5,000 has exactly one. One aggregate, grouping twice with one `$sum` per `$group`:
 * FerretDB 1.24 computes only the first accumulator of a `$group` (a second comes back 0) and
 * has no `$max`.
 */
async function copiesPerRecipient(m: Models, postId: string): Promise<Record<number, number>> {
  const rows = await m.Notification.aggregate<{ _id: number; users: number }>([
    { $match: { type: 'POST', objectId: postId } },
    { $group: { _id: '$userId', copies: { $sum: 1 } } },
    { $group: { _id: '$copies', users: { $sum: 1 } } },
  ]);
  return Object.fromEntries(rows.map((r) => [r._id, r.users]));
}

/**
 * One POST by a user with 5,000 followers, 200 of them connected: every follower gets exactly
 * one notification (live, in the buffer, or on connect), and the real jobs service (started by
 * startPipeline with this config) stores each follower's notification in MongoDB exactly once.
 *
 * jobs' per-user cap asks MongoDB only about users whose Redis `stored:` counter is over
 * MAX_STORED_PER_USER (docs/persistence.md), so 5,000 fresh users cost no cap query; before
 * that, one count per user per batch (a collection scan on FerretDB) made this far too slow.
 * PERSIST_BATCH_SIZE is PERSIST_BULK_MAX_OPS (90), so a batch of inserts is one bulk command.
 */
const FOLLOWERS = 5000;
const CONNECTED = 200;
const follower = (i: number) => `fol${String(i).padStart(5, '0')}`;
const ids = Array.from({ length: FOLLOWERS }, (_, i) => follower(i));

describe('fan-out to 5,000 followers', () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('fanoutscale', {
      FANOUT_CHUNK_SIZE: '500',
      PERSIST_DELAY_MS: '1000',
      PERSIST_BATCH_SIZE: '90',
    });
    redis = await connectRedis(p.config, testLogger, 'test');
    mongo = await connectMongo(p.config, testLogger);
    m = models(mongo);
    const createdAt = new Date();
    for (let i = 0; i < FOLLOWERS; i += 1000) {
      await m.Follow.insertMany(
        ids.slice(i, i + 1000).map((followerId) => ({ followerId, followeeId: 'user1', muted: false, createdAt })),
      );
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await closeRedis(redis);
    await mongo.close();
    await p.close();
  });

  // Its own bound, above the runner's 300 s: up to 300 s for the fan-out plus 240 s for storing.
  it('notifies each follower exactly once and stores each notification once', { timeout: 600_000 }, async () => {
    const online = ids.filter((_, i) => i % (FOLLOWERS / CONNECTED) === 0);
    for (const userId of online) {
      const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token(userId) });
      clients.push(client);
    }
    assert.equal(clients.length, CONNECTED);

    const res = await p.post('/events', { type: 'POST', actorId: 'user1', postId: 'post2' });
    assert.equal(res.status, 202);
    const eventId = res.body.eventId as string;

    // Pages 0..10 (the last one empty, ending the chain); they are published ahead of their
    // work, so the fan-out is over only when every one is done.
    const pages = Array.from({ length: FOLLOWERS / 500 + 1 }, (_, n) => keys.fanoutPageDone(eventId, n));
    await eventually(async () => (await redis.exists(...pages)) === pages.length, {
      what: 'the whole fan-out done',
      timeoutMs: 300_000,
    });

    for (const client of clients) {
      const [frame] = await client.waitForNotifications(1);
      assert.equal(frame!.notification.type, 'POST');
    }

    // Every follower has exactly one buffered notification, and it is theirs and about post2.
    const zcards = await redis.pipeline(ids.map((id) => ['zcard', keys.inbox(id)])).exec();
    const counts = (zcards ?? []).map(([err, n]) => (err ? -1 : Number(n)));
    const wrong = ids.filter((_, i) => counts[i] !== 1);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} followers without exactly one notification`);

    // Each connected client still saw exactly one (no duplicate live push).
    for (const client of clients) assert.equal(new Set(client.notificationIds()).size, 1);

    // Offline followers get theirs on connect.
    const offline = ids.filter((id) => !online.includes(id)).slice(0, 20);
    for (const userId of offline) {
      const [client, ok] = await WsTestClient.authed(p.wsPort, { token: await p.token(userId) });
      clients.push(client);
      assert.equal(ok.pending, 1);
      const [frame] = await client.waitForNotifications(1);
      assert.equal(frame!.notification.message, 'Ada published a new post');
    }

    // Stored in MongoDB by jobs: one document per follower, none twice. One aggregate per poll,
    // every 2 s (on FerretDB it scans the collection, 0.2–3 s while jobs writes, and competes
    // with jobs' writes), until the documents add up to FOLLOWERS. Storing 5,000 took ~2–3 min
    // on the shared 2-core test box; the bound only stops a broken run, it is not a speed
    // assertion.
    const stored = await eventually(
      async () => {
        const histogram = await copiesPerRecipient(m, 'post2');
        const docs = Object.entries(histogram).reduce((sum, [copies, users]) => sum + Number(copies) * users, 0);
        return docs >= FOLLOWERS ? histogram : undefined;
      },
      { what: `${FOLLOWERS} notifications stored`, timeoutMs: 240_000, intervalMs: 2000 },
    );
    assert.deepEqual(stored, { 1: FOLLOWERS }, 'every follower has exactly one stored notification for the post');
  });
});

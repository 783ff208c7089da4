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
 * Fairness: fan-out pages run on their own queue with a small prefetch, so a SECURITY event
 * posted while a 20,000-follower fan-out is busy reaches its user before the fan-out is done.
 * Persistence is parked (a long PERSIST_DELAY_MS): this test is about the consumer.
 */
const FOLLOWERS = 20_000;
const CHUNK = 500;
const LAST_PAGE = FOLLOWERS / CHUNK; // the empty page that ends the chain
const ids = Array.from({ length: FOLLOWERS }, (_, i) => `crowd${String(i).padStart(5, '0')}`);

describe('fan-out fairness', () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('fanoutfair', { FANOUT_CHUNK_SIZE: String(CHUNK), PERSIST_DELAY_MS: '600000' });
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

  /** Pages are published ahead of their work: the fan-out is over only when every page is done. */
  const pagesDone = async (eventId: string) =>
    redis.exists(...Array.from({ length: LAST_PAGE + 1 }, (_, n) => keys.fanoutPageDone(eventId, n)));

  it('delivers a SECURITY event posted during a 20,000-follower fan-out before the fan-out finishes', async () => {
    const [victim] = await WsTestClient.authed(p.wsPort, { token: await p.token('user5') });
    clients.push(victim);

    const post = await p.post('/events', { type: 'POST', actorId: 'user1', postId: 'post1' });
    assert.equal(post.status, 202);
    const eventId = post.body.eventId as string;
    // The fan-out is under way: its first page is done.
    await eventually(async () => (await redis.exists(keys.fanoutPageDone(eventId, 0))) === 1, {
      what: 'the first page done',
      timeoutMs: 60_000,
    });

    const security = await p.post('/events', {
      type: 'SECURITY',
      targetId: 'user5',
      text: 'new sign-in from an unknown device',
    });
    assert.equal(security.status, 202);
    const [frame] = await victim.waitForNotifications(1);
    const doneWhenDelivered = await pagesDone(eventId);
    assert.equal(frame!.notification.type, 'SECURITY');
    assert.ok(
      doneWhenDelivered < LAST_PAGE + 1,
      `the fan-out was still running (${doneWhenDelivered}/${LAST_PAGE + 1} pages done)`,
    );

    // And the fan-out itself completes: every follower exactly once.
    // Bounded below the file's 600 s (scripts/test.sh), so a slow fan-out fails here, saying how far it got.
    let done = 0;
    await eventually(async () => (done = await pagesDone(eventId)) === LAST_PAGE + 1, {
      what: `the whole fan-out done (pages done when the wait ended: ${LAST_PAGE + 1} expected)`,
      timeoutMs: 540_000,
      intervalMs: 500,
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; ${done} of ${LAST_PAGE + 1} pages were done`, { cause: err });
    });
    const replies = (await redis.pipeline(ids.map((id) => ['zcard', keys.inbox(id)])).exec()) ?? [];
    const wrong = ids.filter((_, i) => Number(replies[i]?.[1]) !== 1);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} followers without exactly one notification`);
  });
});

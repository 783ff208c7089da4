import assert from 'node:assert/strict';
import amqplib from 'amqplib';
import type { Connection } from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { createTopology } from '../../shared/amqp/topology.js';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

async function persistJobsWaiting(p: Pipeline): Promise<number> {
  const connection = await amqplib.connect(p.config.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(createTopology(p.config).persistDelayQueue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

/**
 * One POST by a user with 5,000 followers, 200 of them connected: every follower gets exactly
 * one notification (live, in the buffer, or on connect) and exactly one persist job.
 *
 * The persist jobs are parked in their delay queue (a long PERSIST_DELAY_MS) and counted there:
 * storing 5,000 new users' notifications in FerretDB takes far too long for a test (jobs'
 * per-user cap counts each user's documents, a collection scan on FerretDB). That jobs store
 * a fan-out's notifications once each is shown end to end in fanout-mute.test.ts, and that
 * they upsert by id in jobs-persist.test.ts.
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
    p = await startPipeline('fanoutscale', { FANOUT_CHUNK_SIZE: '500', PERSIST_DELAY_MS: '600000' });
    redis = await connectRedis(p.config, testLogger, 'test');
    mongo = await connectMongo(p.config, testLogger);
    m = models(mongo);
    const createdAt = new Date();
    for (let i = 0; i < FOLLOWERS; i += 1000) {
      await m.Follow.insertMany(ids.slice(i, i + 1000).map((followerId) => ({ followerId, followeeId: 'user1', muted: false, createdAt })));
    }
  });
  after(async () => {
    for (const c of clients) c.close();
    await closeRedis(redis);
    await mongo.close();
    await p.close();
  });

  it('notifies each follower exactly once and hands each notification to persistence once', async () => {
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
    await eventually(async () => (await redis.exists(...pages)) === pages.length, { what: 'the whole fan-out done', timeoutMs: 300_000 });

    for (const client of clients) {
      const [frame] = await client.waitForNotifications(1);
      assert.equal(frame!.notification.type, 'POST');
    }

    // Every follower has exactly one buffered notification, and it is theirs and about post2.
    const zcards = await redis.pipeline(ids.map((id) => ['zcard', keys.inbox(id)])).exec();
    const counts = (zcards ?? []).map(([err, n]) => (err ? -1 : Number(n)));
    const wrong = ids.filter((_, i) => counts[i] !== 1);
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} followers without exactly one notification`);

    // One persist job per notification, no more: the delay queue holds exactly FOLLOWERS.
    const delayed = await persistJobsWaiting(p);
    assert.equal(delayed, FOLLOWERS);

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
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { runFanoutPage, startFanout, type FanoutDeps } from '../../consumer/fanout.js';
import { parseFanoutPage, type FanoutPage } from '../../consumer/fanout-message.js';
import { PersistHandOff } from '../../consumer/hand-off.js';
import { createConsumerMetrics } from '../../consumer/metrics.js';
import { createUserNames } from '../../consumer/user-names.js';
import { BackgroundLoads } from '../../shared/background.js';
import { connectInfra, type Infra } from '../../shared/infra.js';
import { keys } from '../../shared/keys.js';
import { createRegistry } from '../../shared/metrics.js';
import { ensureIndexes } from '../../shared/models/index.js';
import { PERSIST_BATCH_MAX_BYTES } from '../../shared/persist-batch.js';
import { preferenceStore } from '../../shared/preferences.js';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { commitSettings } from '../helpers/commit-settings.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * A fan-out page that fails after publishing its successor is retried; a follow added inside its
 * range before the retry must not push the retry's end before the cursor the successor starts
 * after. runFanoutPage runs on the real stores and broker with the consumer's own dependencies;
 * only the recipients' preference read fails, once, as a store hiccup would make it.
 */
const CHUNK = 3;
const AUTHOR = 'rr-author';
const FOLLOWERS = ['rr-f1', 'rr-f2', 'rr-f3', 'rr-f4', 'rr-f5'];
const LATE = 'rr-f2b'; // sorts between rr-f2 and rr-f3: inside page 0's range
const { config } = testEnv('fanoutretryrange', { FANOUT_CHUNK_SIZE: String(CHUNK) });

describe('a retried fan-out page after a follow inside its range', () => {
  let infra: Infra;
  let channel: ChannelWrapper;
  let loads: BackgroundLoads;
  let handOff: PersistHandOff;
  let deps: FanoutDeps;
  let conn: amqplib.ChannelModel;
  let reader: amqplib.Channel;
  let failPreferencesOnce = false;

  before(async () => {
    infra = await connectInfra(config, testLogger);
    await ensureIndexes(infra.models);
    channel = await infra.amqp.createChannel('test-fanout');
    loads = new BackgroundLoads(testLogger);
    handOff = new PersistHandOff(channel, infra.amqp.topology, {
      lingerMs: config.persist.handOffLingerMs,
      maxNotifications: config.persist.handOffMaxNotifications,
      maxBytes: PERSIST_BATCH_MAX_BYTES,
    });
    const store = preferenceStore(infra.models, infra.redis, {
      cacheTtlSeconds: config.pipeline.preferencesCacheTtlSeconds,
      fallbackWaitMs: config.mongo.fallbackWaitMs,
      loads,
      changesChannel: keys.preferencesChanged(config.redis.keyPrefix),
    });
    deps = {
      redis: infra.redis,
      channel,
      topology: infra.amqp.topology,
      names: createUserNames(infra.models, infra.redis, {
        ttlMs: config.pipeline.userNameCacheTtlMs,
        fallbackWaitMs: config.mongo.fallbackWaitMs,
        loads,
      }),
      metrics: createConsumerMetrics(createRegistry('consumer')),
      logger: testLogger,
      commit: commitSettings(config),
      handOff,
      preferences: {
        readMany: async (userIds) => {
          if (failPreferencesOnce) {
            failPreferencesOnce = false;
            throw new Error('preferences read failed (injected once)');
          }
          return store.readMany(userIds);
        },
      },
      follows: infra.models.Follow,
      chunkSize: config.fanout.chunkSize,
    };
    conn = await amqplib.connect(config.rabbitmq.url);
    reader = await conn.createChannel();
  });
  after(async () => {
    await reader.close();
    await conn.close();
    await handOff.close();
    loads.close();
    await channel.close();
    await infra.close();
    await cleanupTestResources(config);
  });

  /** The next page message in the fan-out queue (as a consumer would get it), or undefined. */
  async function takePage(): Promise<FanoutPage | undefined> {
    const msg = await reader.get(infra.amqp.topology.fanoutQueue, { noAck: true });
    return msg === false ? undefined : parseFanoutPage(msg.content);
  }

  const follow = (followerId: string) => ({ followerId, followeeId: AUTHOR, muted: false, createdAt: new Date() });

  it('notifies every follower exactly once, the one who followed before the retry included', async () => {
    await infra.models.Follow.insertMany(FOLLOWERS.map(follow));
    await startFanout(deps, { type: 'POST', actorId: AUTHOR, postId: 'rr-post', eventId: 'rr-event' });
    const page0 = await takePage();
    assert.ok(page0);
    assert.deepEqual([page0.page, page0.after], [0, null]);

    // Page 0 reads rr-f1..rr-f3, publishes page 1 after rr-f3, then fails before notifying anyone.
    failPreferencesOnce = true;
    await assert.rejects(runFanoutPage(deps, page0), /injected once/);
    const page1 = await takePage();
    assert.ok(page1);
    assert.deepEqual([page1.page, page1.after], [1, 'rr-f3']);

    // Someone follows inside page 0's range before its retry.
    await infra.models.Follow.insertMany([follow(LATE)]);
    const retried = await runFanoutPage(deps, page0);
    assert.equal(retried.status, 'done');
    assert.equal(await takePage(), undefined, 'the retry did not publish page 1 again');
    assert.equal((await runFanoutPage(deps, page1)).status, 'done');
    assert.equal(await takePage(), undefined, 'page 1 was the last page');

    const counts: Record<string, number> = {};
    for (const userId of [...FOLLOWERS, LATE]) counts[userId] = (await readPending(infra.redis, userId, 10)).total;
    assert.deepEqual(counts, Object.fromEntries([...FOLLOWERS, LATE].map((id) => [id, 1])));
  });

  it('reads by chunk size, without publishing again, behind a mark of the release before (no cursor)', async () => {
    const page0: FanoutPage = { eventId: 'rr-old', actorId: AUTHOR, postId: 'rr-post-old', page: 0, after: null };
    await infra.redis.set(keys.fanoutPagePublished('rr-old', 1), '1', 'EX', 3600);
    assert.equal((await runFanoutPage(deps, page0)).status, 'done');
    assert.equal(await takePage(), undefined, 'page 1 counts as published');
    const seen = await Promise.all(
      [...FOLLOWERS, LATE].sort().map((id) => infra.redis.exists(keys.eventSeen(id, `rr-old:${id}`))),
    );
    assert.deepEqual(seen, [1, 1, 1, 0, 0, 0], 'the first chunk (rr-f1, rr-f2, rr-f2b) only');
  });
});

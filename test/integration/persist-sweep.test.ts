import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { createJobsMetrics } from '../../jobs/metrics.js';
import { markAgeMs, parseUnpersistedKey, PersistSweeper } from '../../jobs/persist-sweep.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { createRegistry } from '../../shared/metrics.js';
import { keys } from '../../shared/keys.js';
import { models, type Models, type NotificationDoc } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { encodeNotification, type Notification } from '../../shared/notification.js';
import { JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { encodePersistBatch } from '../../shared/persist-batch.js';
import { parseUnpersistedMark, unpersistedMark } from '../../shared/unpersisted-mark.js';
import { bufferNotification } from '../helpers/buffer.js';
import { makeNotification } from '../helpers/notifications.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * The persist sweep (jobs/persist-sweep.ts) against real Redis, RabbitMQ and MongoDB: a
 * notification buffered with its unpersisted mark but whose persist job never reached the broker
 * (what a lost hand-off leaves) is stored once its mark is older than PERSIST_SWEEP_AFTER_MS; a
 * young mark is left to its job; a mark without a buffered copy is dropped; a second instance
 * does nothing while another holds the lock.
 */
const AFTER_MS = 20_000;
const { config } = testEnv('persistsweep', {
  PERSIST_SWEEP_INTERVAL_MS: '200',
  PERSIST_SWEEP_AFTER_MS: String(AFTER_MS),
  PERSIST_DELAY_MS: '300',
  PERSIST_FLUSH_MS: '50',
});
const TTL = config.pipeline.bufferTtlSeconds;
// A second key prefix, swept only by the tests' own PersistSweeper (the jobs above never sees it).
const { config: own } = testEnv('persistsweepown');

describe('persist sweep: a notification whose persist job never arrived is stored all the same', () => {
  let jobs: JobsService;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;

  const doc = (id: string) => m.Notification.findById(id).lean<NotificationDoc>();
  /** Buffers `n` as the consumer's commit does, with no persist job, its mark `ageMs` old. */
  const orphan = async (n: Notification, ageMs: number) => {
    await bufferNotification(redis, n, TTL);
    if (ageMs > 0) await age(n, ageMs);
  };
  /** Makes `n`'s mark say its commit was `ageMs` ago, as consumer/commit.lua writes it. */
  const age = (n: Notification, ageMs: number) =>
    redis.set(keys.unpersisted(n.userId, n.id), unpersistedMark(Date.now() - ageMs, n.version), 'KEEPTTL');
  const swept = async (outcome: string): Promise<number> => {
    const line = (await jobs.registry.metrics())
      .split('\n')
      .find((l) => l.startsWith('jobs_persist_swept_total{') && l.includes(`outcome="${outcome}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  before(async () => {
    redis = await connectRedis(config, testLogger);
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    jobs = await bootstrap(config, testLogger);
  });
  after(async () => {
    await jobs.close();
    await closeRedis(redis);
    await mongo.close();
    await cleanupTestResources(config);
  });

  it('stores an orphan past PERSIST_SWEEP_AFTER_MS and leaves a young mark to its job', async () => {
    const young = makeNotification('sweep-young');
    const lost = makeNotification('sweep-lost');
    await orphan(young, 0);
    await orphan(lost, AFTER_MS + 5_000);

    const stored = await eventually(async () => (await doc(lost.id)) ?? undefined, {
      what: 'the orphaned notification stored by the sweep',
      timeoutMs: 15_000,
    });
    assert.equal(stored.userId, lost.userId);
    assert.equal(stored.status, 'undelivered');
    assert.deepEqual(stored.eventIds, lost.eventIds);
    await eventually(async () => (await redis.exists(keys.unpersisted(lost.userId, lost.id))) === 0, {
      what: "jobs' after-write step to clear the mark",
    });
    assert.ok((await swept('handed_over')) >= 1);

    // The run that found `lost` saw `young` too: its job may still come, so it is not touched.
    await sleep(600);
    assert.equal(await doc(young.id), null, 'a mark younger than PERSIST_SWEEP_AFTER_MS is left to its job');
    assert.equal(await redis.exists(keys.unpersisted(young.userId, young.id)), 1);
  });

  it('drops a mark whose buffered copy is gone: nothing is left to store', async () => {
    const gone = makeNotification('sweep-gone');
    await orphan(gone, AFTER_MS + 5_000);
    await redis.del(keys.notification(gone.userId, gone.id));
    const before = await swept('expired');
    await eventually(async () => (await redis.exists(keys.unpersisted(gone.userId, gone.id))) === 0, {
      what: 'the sweep to drop the mark',
      timeoutMs: 15_000,
    });
    assert.equal(await swept('expired'), before + 1);
    assert.equal(await doc(gone.id), null);
  });

  it('sweeps in one instance at a time: none while another holds the lock', async () => {
    await redis.set(keys.persistSweepLock(), 'another-instance', 'PX', 60_000);
    const waiting = makeNotification('sweep-locked');
    await orphan(waiting, AFTER_MS + 5_000);
    await sleep(1_000);
    assert.equal(await doc(waiting.id), null, 'no sweep while another instance holds the lock');
    await redis.del(keys.persistSweepLock());
    await eventually(async () => (await doc(waiting.id)) ?? undefined, {
      what: 'the sweep once the lock is free',
      timeoutMs: 15_000,
    });
  });

  it('ages a mark by the commit time it holds, whatever TTL it was written with', async () => {
    const lost = makeNotification('sweep-valued');
    await bufferNotification(redis, lost, TTL);
    // What consumer/commit.lua writes: the commit's epoch ms, here one from long ago, under a TTL
    // that says nothing of its age (a BUFFER_TTL_SECONDS other than jobs' own).
    await redis.set(keys.unpersisted(lost.userId, lost.id), String(Date.now() - AFTER_MS - 5_000), 'EX', TTL * 2);
    await eventually(async () => (await doc(lost.id)) ?? undefined, {
      what: 'the notification whose mark says it is old',
      timeoutMs: 15_000,
    });
    const now = Date.now();
    assert.equal(markAgeMs(String(now - 5_000), 1_000, TTL, now), 5_000, 'a valued mark is aged by its value');
    assert.equal(markAgeMs('1', TTL * 1000 - 7_000, TTL, 0), 7_000, "a '1' mark is aged by its TTL");
    assert.equal(markAgeMs('1', -1, TTL, 0), undefined, 'no expiry: no age');
  });

  it('drops a mark whose buffered copy jobs could never store, instead of a dead letter every run', async () => {
    const broken = makeNotification('sweep-broken');
    await orphan(broken, AFTER_MS + 5_000);
    await redis.set(keys.notification(broken.userId, broken.id), '{"not":"a notification"}', 'KEEPTTL');
    const before = await swept('invalid');
    await eventually(async () => (await redis.exists(keys.unpersisted(broken.userId, broken.id))) === 0, {
      what: 'the sweep to drop the mark',
      timeoutMs: 15_000,
    });
    assert.equal(await swept('invalid'), before + 1);
    assert.equal(await doc(broken.id), null);
  });

  it("keeps a newer version's mark when an older version is stored, and stores the newer one if its job is lost", async () => {
    const amqp: AmqpClient = await connectAmqp(config, testLogger);
    const channel: ChannelWrapper = await amqp.createChannel('sweep-versions');
    try {
      // An aggregate's v1 and v2 both committed; v1's persist job arrives, v2's never does.
      const v1 = makeNotification('sweep-versions');
      const v2: Notification = { ...v1, version: 2, actors: ['b', ...v1.actors], actorCount: 2, message: 'grown' };
      await bufferNotification(redis, v1, TTL);
      await bufferNotification(redis, v2, TTL);
      // A second notification whose mark was written before marks held a version: any stored
      // version clears it, as before.
      const legacy = makeNotification('sweep-versions-legacy');
      await bufferNotification(redis, legacy, TTL);
      await redis.set(keys.unpersisted(legacy.userId, legacy.id), String(Date.now()), 'KEEPTTL');
      await channel.sendToQueue(amqp.topology.persistQueue, encodePersistBatch([v1, legacy].map(encodeNotification)), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
      await eventually(async () => (await doc(v1.id)) ?? undefined, { what: 'v1 stored', timeoutMs: 15_000 });
      await eventually(async () => (await redis.exists(keys.unpersisted(legacy.userId, legacy.id))) === 0, {
        what: "the legacy mark cleared by its notification's batch",
      });
      const mark = await redis.get(keys.unpersisted(v1.userId, v1.id));
      assert.ok(mark !== null, "storing v1 left v2's unpersisted mark in place");
      assert.equal(parseUnpersistedMark(mark).version, 2);
      assert.equal((await doc(v1.id))?.version, 1);

      // v2's job is lost: once its mark is old, the sweep hands the buffered v2 to jobs.
      await age(v2, AFTER_MS + 5_000);
      const stored = await eventually(
        async () => {
          const d = await doc(v1.id);
          return d?.version === 2 ? d : undefined;
        },
        { what: 'v2 stored by the sweep', timeoutMs: 15_000 },
      );
      assert.equal(stored.message, 'grown');
      await eventually(async () => (await redis.exists(keys.unpersisted(v2.userId, v2.id))) === 0, {
        what: "v2's mark cleared once v2 is stored",
      });
    } finally {
      await channel.close();
      await amqp.close();
    }
  });

  it('resumes its scan where a bounded run stopped, so a large keyspace is covered run by run', async () => {
    const ownRedis = await connectRedis(own, testLogger);
    const amqp: AmqpClient = await connectAmqp(config, testLogger);
    const channel: ChannelWrapper = await amqp.createChannel('sweep-test');
    try {
      // 3,000 other keys, and 10 lost notifications somewhere among them.
      for (let i = 0; i < 3000; i += 500)
        await ownRedis.mset(Object.fromEntries(Array.from({ length: 500 }, (_, k) => [`filler:${i + k}`, '1'])));
      const lost = Array.from({ length: 10 }, (_, i) => makeNotification(`sweep-far${i}`));
      for (const n of lost) {
        await bufferNotification(ownRedis, n, TTL);
        await ownRedis.set(keys.unpersisted(n.userId, n.id), String(Date.now() - AFTER_MS - 5_000), 'KEEPTTL');
      }
      const sweeper = new PersistSweeper(
        {
          redis: ownRedis,
          channel,
          topology: amqp.topology,
          metrics: createJobsMetrics(createRegistry('jobs')),
          logger: testLogger,
          settings: {
            keyPrefix: own.redis.keyPrefix,
            bufferTtlSeconds: TTL,
            afterMs: AFTER_MS,
            maxNotificationsPerMessage: 200,
          },
        },
        // A run reads 4 pages of about 100 keys: an eighth of this keyspace.
        { maxNotifications: 5000, maxPages: 4, scanCount: 100 },
      );
      let handedOver = 0;
      let runs = 0;
      let passDone = false;
      // The Redis server is shared: other tests' keys lengthen the pass, never shorten it.
      while (!passDone && runs < 2000) {
        const result = await sweeper.run();
        handedOver += result.handedOver;
        passDone = result.passDone;
        runs += 1;
      }
      assert.ok(runs >= 4, `one bounded run cannot cover 3,000 keys (${runs} runs)`);
      assert.equal(handedOver, 10, 'every lost notification reached, however far into the scan');
      for (const n of lost)
        await eventually(async () => (await doc(n.id)) ?? undefined, { what: `${n.id} stored`, timeoutMs: 15_000 });
      // A pass that found nothing stale: the next run starts a new pass and hands nothing over.
      assert.equal((await sweeper.run()).handedOver, 0, 'handed-over marks now say they were just handed over');
    } finally {
      await channel.close();
      await amqp.close();
      await closeRedis(ownRedis);
      await cleanupTestResources(own).catch(() => undefined);
    }
  });

  it('reads only unpersisted marks of the exact shape', () => {
    assert.deepEqual(parseUnpersistedKey(keys.unpersisted('alice', 'n1')), { userId: 'alice', id: 'n1' });
    assert.deepEqual(parseUnpersistedKey(keys.unpersisted('a:b}c', 'n1')), { userId: 'a:b}c', id: 'n1' });
    assert.equal(parseUnpersistedKey('unpersisted:alice:n1'), undefined);
    assert.equal(parseUnpersistedKey(keys.acked('alice', 'n1')), undefined);
    assert.equal(parseUnpersistedKey('unpersisted:{u:}:n1'), undefined);
  });
});

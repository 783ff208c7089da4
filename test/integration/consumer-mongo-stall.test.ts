import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap as bootstrapConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as bootstrapProducer, type ProducerService } from '../../producer/bootstrap.js';
import { readPending } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { ensureIndexes, models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { seedDemoData } from '../../seed/seed.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const QUERY_TIMEOUT_MS = 1000;
const FOLLOWERS = ['stallf1', 'stallf2', 'stallf3'];
/** Followers per fan-out page: the fan-out has floor(FOLLOWERS / CHUNK) + 1 pages, the last short. */
const CHUNK = 2;

/*
 * The consumer's MongoDB hangs (a stalling proxy) while a POST fans out: reading the followers
 * gives up at MONGO_QUERY_TIMEOUT_MS and the page goes through the fan-out retry queues instead
 * of holding its prefetch slot forever; once MongoDB answers, every follower is notified once.
 * CONNECT_TIMEOUT_MS is long so that only the query deadline can free the hung read in time.
 */
const { config: direct } = testEnv('consumermongostall', {
  MONGO_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  CONNECT_TIMEOUT_MS: '30000',
  RETRY_BASE_DELAY_MS: '200',
  CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '10',
  FANOUT_CHUNK_SIZE: String(CHUNK),
});

describe('consumer fan-out while MongoDB hangs', () => {
  let proxy: TcpProxy;
  let producer: ProducerService;
  let consumer: ConsumerService;
  let mongo: Connection;
  let redis: Redis;

  const retriedPages = async () => {
    const text = await (await fetch(`http://127.0.0.1:${consumer.port}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('consumer_fanout_pages_total') && l.includes('outcome="retried"'));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  before(async () => {
    mongo = await connectMongo(direct, testLogger);
    const m = models(mongo);
    await ensureIndexes(m);
    redis = await connectRedis(direct, testLogger, 'test');
    await seedDemoData(m, redis);
    await m.Follow.insertMany(
      FOLLOWERS.map((followerId) => ({ followerId, followeeId: 'user1', muted: false, createdAt: new Date() })),
    );
    producer = await bootstrapProducer(direct, testLogger);
    const proxied = await mongoBehindProxy(direct);
    proxy = proxied.proxy;
    consumer = await bootstrapConsumer(proxied.config, testLogger);
  });
  after(async () => {
    await consumer.close();
    await producer.close();
    await closeRedis(redis);
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('retries the stalled page within the deadline and notifies every follower once MongoDB answers', async () => {
    proxy.stall();
    const res = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'POST', actorId: 'user1', postId: 'post1' }),
    });
    assert.equal(res.status, 202);
    const { eventId } = (await res.json()) as { eventId: string };

    // Without a deadline the followers read would hang on the held connection, unacked.
    await eventually(async () => (await retriedPages()) >= 1, {
      what: 'the stalled fan-out page to be retried',
      timeoutMs: QUERY_TIMEOUT_MS + 4000,
      intervalMs: 50,
    });

    proxy.resume();
    // Counted only once the fan-out is over: every page done (each marks it after notifying its
    // followers, and a later copy of a done page notifies nobody), so no retried page is left to
    // add a second notification after the count.
    const pages = Array.from({ length: Math.floor(FOLLOWERS.length / CHUNK) + 1 }, (_, n) =>
      keys.fanoutPageDone(eventId, n),
    );
    await eventually(async () => (await redis.exists(...pages)) === pages.length, {
      what: 'every fan-out page done after the stall',
      timeoutMs: 60_000,
    });
    for (const follower of FOLLOWERS) {
      const pending = (await readPending(redis, follower, 10)).notifications;
      assert.equal(pending.length, 1, `${follower}: exactly one notification`);
      assert.equal(pending[0]!.type, 'POST');
    }
  });
});

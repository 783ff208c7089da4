import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as bootstrapConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { ensureIndexes, models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const QUERY_TIMEOUT_MS = 8000;

/*
 * A FOLLOW writes the follow graph in MongoDB. With MongoDB hung, that write waits for its
 * deadline (MONGO_QUERY_TIMEOUT_MS); the events delivered in the same batch must not wait with
 * it: their commit (and so their delivery) goes ahead, and only the FOLLOW's ack waits. Once
 * MongoDB answers again, the FOLLOW's retry writes the edge and notifies nobody twice.
 */
const { config: direct } = testEnv('consumerfollowstall', {
  MONGO_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  CONNECT_TIMEOUT_MS: '30000',
  RETRY_BASE_DELAY_MS: '200',
  CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '20',
});
const topology = createTopology(direct);

describe('a FOLLOW while MongoDB hangs', () => {
  let proxy: TcpProxy;
  let consumer: ConsumerService;
  let mongo: Connection;
  let redis: Redis;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;

  before(async () => {
    mongo = await connectMongo(direct, testLogger);
    await ensureIndexes(models(mongo));
    redis = await connectRedis(direct, testLogger, 'test');
    const proxied = await mongoBehindProxy(direct);
    proxy = proxied.proxy;
    consumer = await bootstrapConsumer(proxied.config, testLogger);
    conn = await amqplib.connect(direct.rabbitmq.url);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    await ch.close();
    await conn.close();
    await consumer.close();
    await closeRedis(redis);
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('does not hold back the delivery of the events that arrived with it', async () => {
    // The consumer's names and preferences come from Redis or fall back at once; only the graph
    // write needs MongoDB. One confirmed publish of both: they are delivered together.
    proxy.stall();
    const started = Date.now();
    const events = [
      { type: 'FOLLOW', actorId: 'fs-actor', targetId: 'fs-followed', eventId: 'fs-follow-1' },
      { type: 'LIKE', actorId: 'fs-liker', targetId: 'fs-owner', postId: 'fs-post', eventId: 'fs-like-1' },
    ];
    for (const event of events)
      ch.sendToQueue(topology.eventsQueues.social, Buffer.from(JSON.stringify(event)), {
        persistent: true,
        messageId: event.eventId,
        priority: 5,
      });
    await ch.waitForConfirms();

    const [like] = await eventually(
      async () => {
        const { notifications } = await readPending(redis, 'fs-owner', 10);
        return notifications.length > 0 ? notifications : undefined;
      },
      // Past the deadline below, so a LIKE that waited on it fails on the assertion that says so.
      { what: "the LIKE buffered while the FOLLOW's graph write hangs", timeoutMs: 2 * QUERY_TIMEOUT_MS },
    );
    const tookMs = Date.now() - started;
    assert.deepEqual(like!.eventIds, ['fs-like-1']);
    // Against the deadline being tested, not a guess at how fast a machine is: the graph write
    // starts after `started` and, MongoDB hung, ends only at MONGO_QUERY_TIMEOUT_MS, so a LIKE
    // whose commit waited on it is buffered no earlier than that.
    assert.ok(tookMs < QUERY_TIMEOUT_MS, `the LIKE waited ${tookMs} ms: on the graph write's deadline`);
    assert.equal(
      await models(mongo).Follow.countDocuments({ followerId: 'fs-actor', followeeId: 'fs-followed' }),
      0,
      'the edge is not written yet: MongoDB is still hung',
    );

    proxy.resume();
    await eventually(
      async () =>
        (await models(mongo).Follow.countDocuments({ followerId: 'fs-actor', followeeId: 'fs-followed' })) === 1,
      { what: 'the edge written by the retried FOLLOW', timeoutMs: 60_000 },
    );
    const followed = await eventually(
      async () => {
        const { notifications } = await readPending(redis, 'fs-followed', 10);
        return notifications.length > 0 ? notifications : undefined;
      },
      { what: 'the FOLLOW notification' },
    );
    assert.equal(followed.length, 1, 'notified once, however often the FOLLOW was retried');
  });
});

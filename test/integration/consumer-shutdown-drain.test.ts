import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { keys } from '../../shared/keys.js';
import { encodeJson, type DelayedWakeMessage } from '../../shared/messages.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WakeListener } from '../helpers/wake-listener.js';

/*
 * close() drains every handler the consumer runs before its channels, loads and connections
 * close. Each case holds one handler on the consumer's Redis (a stalling proxy) while close()
 * begins, lets Redis answer once the consumers are cancelled, and checks what the handler did.
 */
const { env, config } = testEnv('consumerdrain');
const topology = createTopology(config);

const onCluster = config.redis.cluster ? 'stalls a single Redis server through a TCP proxy' : false;
describe('consumer shutdown drains every handler', { skip: onCluster }, () => {
  let mongo: Connection;
  let m: Models;
  let redis: Redis;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;

  before(async () => {
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
    redis = await connectRedis(config, testLogger, 'test');
    conn = await amqplib.connect(config.rabbitmq.url);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    await closeRedis(redis);
    await mongo.close();
    await conn.close();
    await cleanupTestResources(config);
  });

  /** A consumer whose Redis traffic passes through a proxy the test can stall. */
  async function consumerBehindProxy(): Promise<{ consumer: ConsumerService; proxy: TcpProxy }> {
    const proxy = await new TcpProxy('127.0.0.1', Number(new URL(config.redis.url).port || 6379)).start();
    const consumer = await startConsumer(
      loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }),
      testLogger,
    );
    return { consumer, proxy };
  }

  const send = (queue: string, body: Buffer) =>
    new Promise<void>((resolve, reject) =>
      ch.sendToQueue(queue, body, { persistent: true }, (err) => (err ? reject(err) : resolve())),
    );

  /**
   * Starts close() while the proxy holds a request naming `marker`, then lets Redis answer once
   * the consumers of `queue` are cancelled: a close that does not wait for the handler has by
   * then closed its channel or its loads.
   */
  async function closeWhileHeld(
    consumer: ConsumerService,
    proxy: TcpProxy,
    queue: string,
    marker: string,
  ): Promise<void> {
    await eventually(() => proxy.heldIncludes(Buffer.from(marker)), {
      what: `the handler waiting on Redis (${marker})`,
    });
    const closing = consumer.close();
    await eventually(async () => (await ch.checkQueue(queue)).consumerCount === 0, { what: 'the consumers cancelled' });
    // Long enough for a close that skips the handler to reach its channel's close.
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.unstall();
    await closing;
    await proxy.close();
  }

  it('forwards and acks a due wake in flight before the channel closes', async () => {
    const listener = await WakeListener.start(config, ['drain-dnd-user']);
    try {
      const { consumer, proxy } = await consumerBehindProxy();
      proxy.stall();
      const due: DelayedWakeMessage = { userId: 'drain-dnd-user', notificationIds: ['n1'], dueAtMs: Date.now() - 1 };
      await send(topology.wakeDueQueue, encodeJson(due));
      await closeWhileHeld(consumer, proxy, topology.wakeDueQueue, 'drain-dnd-user');

      assert.equal(
        (await ch.checkQueue(topology.wakeDueQueue)).messageCount,
        0,
        'the due wake was acked, not returned',
      );
      await eventually(() => listener.heard.length === 1, { what: 'the wake published' });
      assert.deepEqual(listener.wakes(), [{ userId: 'drain-dnd-user', notificationIds: ['n1'] }]);
    } finally {
      // A wake left behind (by a close that returned it) must not reach the next case's consumer.
      await ch.purgeQueue(topology.wakeDueQueue);
      await listener.close();
    }
  });

  it("applies a muted user's stored preferences to an event in flight, not the defaults", async () => {
    // Only in MongoDB: the consumer's read of the Redis copy misses and it loads the document.
    await m.Preference.create({
      _id: 'drain-quiet-user',
      mutedTypes: ['LIKE'],
      promotionalOptOut: false,
      updatedAt: new Date(),
    });
    await redis.del(keys.preferences('drain-quiet-user'));
    const { consumer, proxy } = await consumerBehindProxy();
    proxy.stall();
    const event = {
      type: 'LIKE',
      actorId: 'user1',
      targetId: 'drain-quiet-user',
      postId: 'p1',
      eventId: 'drain-like-1',
    };
    await send(topology.eventsQueues.social, Buffer.from(JSON.stringify(event)));
    await closeWhileHeld(consumer, proxy, topology.eventsQueues.social, 'drain-quiet-user');

    assert.equal((await ch.checkQueue(topology.eventsQueues.social)).messageCount, 0, 'the event was acked');
    // A suppressed event keeps its stages under its own id (consumer/commit.lua).
    const stages = await redis.hgetall(keys.timeline('drain-quiet-user', 'drain-like-1'));
    assert.ok(stages.suppressed, 'the event was committed as suppressed');
    const pending = await readPending(redis, 'drain-quiet-user', 10);
    assert.equal(pending.total, 0, 'a LIKE the user muted was not buffered');
  });
});

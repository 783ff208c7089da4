import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { consumeDueWakes } from '../../consumer/delayed-wake.js';
import { connectAmqp } from '../../shared/amqp/connection.js';
import { DEAD_REASON_HEADER, SOURCE_HEADER } from '../../shared/amqp/failure-headers.js';
import { keys } from '../../shared/keys.js';
import { encodeJson, type DelayedWakeMessage } from '../../shared/messages.js';
import { closeRedis, connectRedis, openSubscriber } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/** The due end of the do-not-disturb ladder, settled through the shared consume envelope. */
const { config } = testEnv('delayedwake');
const wakeChannel = keys.wakeChannel(config.redis.keyPrefix);

/** A due-wake consumer as the consumer service runs it, plus a subscriber to its wake channel. */
async function start() {
  const amqp = await connectAmqp(config, testLogger);
  const channel = await amqp.createChannel('test-due-wakes');
  const redis = await connectRedis(config, testLogger, 'test');
  // The ws-server's kind of subscriber: on a cluster a plain connection to one of its nodes.
  const subscriber = openSubscriber(redis, 'test-sub');
  const published: string[] = [];
  await subscriber.connect();
  await subscriber.subscribe(wakeChannel);
  subscriber.on('message', (_channel: string, message: string) => published.push(message));
  await consumeDueWakes(channel, amqp.topology, redis, wakeChannel, testLogger);
  const stop = async () => {
    await channel.close();
    await amqp.close();
    await closeRedis(redis);
    subscriber.disconnect();
  };
  return { amqp, channel, published, stop };
}

describe('due wakes', () => {
  let t: Awaited<ReturnType<typeof start>>;
  before(async () => {
    t = await start();
  });
  after(async () => {
    await t.stop();
    await cleanupTestResources(config);
  });

  it('publishes a due wake on the Redis wake channel and dead-letters a body that is not a wake', async () => {
    const { amqp, channel, published } = t;
    await channel.sendToQueue(amqp.topology.wakeDueQueue, Buffer.from('not json'), { persistent: true });
    const due: DelayedWakeMessage = { userId: 'dnd-user', notificationIds: ['n1'], dueAtMs: Date.now() - 1 };
    await channel.sendToQueue(amqp.topology.wakeDueQueue, encodeJson(due), { persistent: true });

    const dead = await eventually(async () => (await channel.get(amqp.topology.wakeDeadQueue, { noAck: true })) || undefined, {
      what: 'the malformed wake in the dead-letter queue',
    });
    assert.equal(dead.content.toString(), 'not json');
    assert.equal(dead.properties.headers?.[DEAD_REASON_HEADER], 'delayed wake: invalid_json');
    assert.equal(dead.properties.headers?.[SOURCE_HEADER], amqp.topology.wakeDueQueue);
    await eventually(() => published.length === 1, { what: 'the due wake on the wake channel' });
    assert.deepEqual(JSON.parse(published[0]!), { userId: 'dnd-user', notificationIds: ['n1'] });
    await eventually(async () => (await channel.checkQueue(amqp.topology.wakeDueQueue)).messageCount === 0, { what: 'both acked' });
  });
});

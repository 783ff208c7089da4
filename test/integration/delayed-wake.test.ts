import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { consumeDueWakes } from '../../consumer/delayed-wake.js';
import { connectAmqp } from '../../shared/amqp/connection.js';
import { DEAD_REASON_HEADER, SOURCE_HEADER } from '../../shared/amqp/failure-headers.js';
import { encodeJson, type DelayedWakeMessage } from '../../shared/messages.js';
import { closeRedis, connectRedis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { WakeListener } from '../helpers/wake-listener.js';

/** The due end of the do-not-disturb ladder, settled through the shared consume envelope. */
const { config } = testEnv('delayedwake');
/** A due-wake consumer as the consumer service runs it, plus a ws-server instance holding dnd-user. */
async function start() {
  const amqp = await connectAmqp(config, testLogger);
  const channel = await amqp.createChannel('test-due-wakes');
  const redis = await connectRedis(config, testLogger, 'test');
  const instance = await WakeListener.start(config, ['dnd-user']);
  const published = instance.heard;
  await consumeDueWakes(channel, amqp.topology, redis, config.redis.keyPrefix, testLogger);
  const stop = async () => {
    await channel.close();
    await amqp.close();
    await closeRedis(redis);
    await instance.close();
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

  it("publishes a due wake to the instance in the user's wake route and dead-letters a body that is not a wake", async () => {
    const { amqp, channel, published } = t;
    await channel.sendToQueue(amqp.topology.wakeDueQueue, Buffer.from('not json'), { persistent: true });
    const due: DelayedWakeMessage = { userId: 'dnd-user', notificationIds: ['n1'], dueAtMs: Date.now() - 1 };
    await channel.sendToQueue(amqp.topology.wakeDueQueue, encodeJson(due), { persistent: true });

    const dead = await eventually(
      async () => (await channel.get(amqp.topology.wakeDeadQueue, { noAck: true })) || undefined,
      {
        what: 'the malformed wake in the dead-letter queue',
      },
    );
    assert.equal(dead.content.toString(), 'not json');
    assert.equal(dead.properties.headers?.[DEAD_REASON_HEADER], 'delayed wake: invalid_json');
    assert.equal(dead.properties.headers?.[SOURCE_HEADER], amqp.topology.wakeDueQueue);
    await eventually(() => published.length === 1, { what: "the due wake on the instance's channel" });
    assert.deepEqual(JSON.parse(published[0]!), { userId: 'dnd-user', notificationIds: ['n1'] });
    await eventually(async () => (await channel.checkQueue(amqp.topology.wakeDueQueue)).messageCount === 0, {
      what: 'both acked',
    });
  });
});

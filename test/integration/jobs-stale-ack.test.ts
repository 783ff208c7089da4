import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { startBatchConsumer, type BatchConsumer } from '../../jobs/batch-consumer.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { loadConfig } from '../../shared/config.js';
import { errorMessage } from '../../shared/errors.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const base = testEnv('jobsstaleack');

/**
 * jobs' batch consumer after a reconnect: a batch taken on the old channel that finishes while
 * the new channel is being set up must not ack its old delivery tags on the new one. It did once:
 * the generation that marks old deliveries went up only at the end of the channel's setup, after
 * the topology's declarations (about twenty round trips), while amqp-connection-manager already
 * acked on the new channel; the broker answered 406 "unknown delivery tag", closed the channel
 * and jobs reported "rabbitmq refused the topology" (found by a review, 2026-12-07).
 */
describe("jobs' batch consumer: a batch of the old channel settling during the new one's setup", () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(base.config.rabbitmq.url).port || 5672));
  let amqp: AmqpClient;
  let direct: AmqpClient;
  let publisher: ChannelWrapper;
  let consumer: BatchConsumer | undefined;

  before(async () => {
    await proxy.start();
    const config = loadConfig({
      ...base.env,
      RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
      AMQP_HEARTBEAT_SECONDS: '1',
    });
    amqp = await connectAmqp(config, testLogger);
    direct = await connectAmqp(base.config, testLogger);
    publisher = await direct.createChannel('test-publisher');
  });
  after(async () => {
    await consumer?.stop();
    await amqp.close();
    await direct.close();
    await proxy.close();
    await cleanupTestResources(base.config);
  });

  it('acks nothing of the old channel on the new one, and handles every message', async () => {
    const errors: string[] = [];
    const handled: string[] = [];
    let first = true;
    consumer = await startBatchConsumer<string>(amqp, testLogger, {
      name: 'stale-ack-test',
      queue: amqp.topology.persistQueue,
      prefetch: 50,
      batchSize: 1000,
      flushMs: 50,
      drainTimeoutMs: 1000,
      decode: (c) => c.toString(),
      weight: () => 1,
      idsOf: (b) => [b],
      handle: async (batch, channel) => {
        if (first) {
          first = false;
          channel.on('error', (err: unknown) => errors.push(errorMessage(err)));
          // The wrapper's internals: the channel acks go to, and its setup in progress.
          const wrapper = channel as unknown as { _channel: unknown; _settingUp: unknown };
          const old = wrapper._channel;
          await proxy.cut();
          await proxy.start();
          // Settle the moment a new channel is current and its setup (the declarations) still runs.
          await eventually(() => wrapper._channel !== undefined && wrapper._channel !== old && !!wrapper._settingUp, {
            what: 'a new channel in its setup',
            intervalMs: 1,
            timeoutMs: 30_000,
          });
          return [];
        }
        handled.push(...batch.map((d) => d.body));
        return [];
      },
    });
    for (let i = 0; i < 5; i++)
      await publisher.sendToQueue(amqp.topology.persistQueue, Buffer.from(`m${i}`), { persistent: true });
    await eventually(() => ['m0', 'm1', 'm2', 'm3', 'm4'].every((m) => handled.includes(m)), {
      what: 'the first batch handled again on the new channel',
      timeoutMs: 30_000,
    });
    await sleep(500);
    assert.deepEqual(errors, [], 'no 406 from an ack of the old channel on the new one');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { eventsProcessed } from '../helpers/consumer-metrics.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog, testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

/**
 * The consumer loses its broker connection while events it has committed wait for their persist
 * batch (the hand-off's linger), and is back a second later — what a broker node's loss looks like
 * when RABBITMQ_URL lists a cluster (test/cluster). The batch goes out on the new channel; the
 * events delivered on the old one are back on their queue and come again. Acking the old ones on
 * the new channel (amqp-connection-manager acks on whichever channel is open) acked the new
 * channel's deliveries of the same tags, and then their own acks made the broker close the
 * channel: 406 PRECONDITION_FAILED "unknown delivery tag" (shared/amqp/deliveries.ts).
 */
const EVENTS = 40;
const { env, config } = testEnv('consumerreconnect', {
  // Committed events wait a second for their persist batch: the window the connection is cut in.
  PERSIST_HANDOFF_LINGER_MS: '1000',
  CONSUMER_PREFETCH: String(EVENTS * 2),
  PERSIST_DELAY_MS: '600000',
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '100000',
  AMQP_HEARTBEAT_SECONDS: '1',
});
const topology = createTopology(config);
const USER = 'reconnect-user';

describe('consumer: a broker connection lost between commit and ack', () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(config.rabbitmq.url).port || 5672));
  const log = capturedLog('info', 'consumer');
  let consumer: ConsumerService;
  let redis: Redis;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;

  before(async () => {
    await proxy.start();
    consumer = await startConsumer(
      loadConfig({ ...env, RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}` }),
      log.logger,
    );
    redis = await connectRedis(config, testLogger, 'test');
    conn = await amqplib.connect(config.rabbitmq.url);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    await consumer.close();
    await closeRedis(redis);
    await conn.close();
    await proxy.close();
    await cleanupTestResources(config);
  });

  const send = (n: number | string) => {
    const body = {
      type: 'ORDER',
      targetId: USER,
      orderId: `order-${n}`,
      text: 'has shipped',
      eventId: `reconnect-${n}`,
    };
    ch.sendToQueue(topology.eventsQueues.transactional, Buffer.from(JSON.stringify(body)), {
      persistent: true,
      messageId: body.eventId,
    });
  };

  it("settles the old channel's events by their redelivery, never on the new channel", async () => {
    for (let i = 0; i < EVENTS; i++) send(i);
    await ch.waitForConfirms();
    // Every event committed (buffered), none acked yet: their persist batch waits out the linger.
    await eventually(async () => (await readPending(redis, USER, 1000)).notifications.length === EVENTS || undefined, {
      what: `${EVENTS} events committed`,
      intervalMs: 10,
    });
    await proxy.cut();
    await proxy.start();

    // Back on a new channel: the batch is confirmed there, the events come again (duplicates:
    // their eventId marks name the notifications) and are acked once each. The consumer counts a
    // delivery when it settles it, not one whose channel closed (its redelivery is counted), so
    // EVENTS counted means every event's last copy was acked, not only taken off the queue.
    await eventually(
      async () => {
        const q = await ch.checkQueue(topology.eventsQueues.transactional);
        return q.messageCount === 0 && q.consumerCount === 1 && (await eventsProcessed(consumer.port)) >= EVENTS;
      },
      { what: 'every event settled with the consumer back', timeoutMs: 30_000 },
    );
    // The broker's answer to those acks (a channel close, had one named a tag it did not expect)
    // comes after them on the consumer's connection. One more event, settled on the consumer's
    // channel after a linger, puts that answer in the past.
    const settled = await eventsProcessed(consumer.port);
    send('marker');
    await ch.waitForConfirms();
    await eventually(async () => (await eventsProcessed(consumer.port)) > settled, {
      what: 'the marker event settled after the redelivered ones',
      timeoutMs: 30_000,
    });
    const closed = log.lines().filter((l) => String(l.err ?? '').includes('PRECONDITION'));
    assert.deepEqual(
      closed.map((l) => l.err),
      [],
      "the broker never closed the consumer's channel for an ack it did not expect",
    );
    assert.equal(
      (await ch.checkQueue(topology.eventsQueues.transactional)).messageCount,
      0,
      'nothing left on the queue',
    );

    const pending = await readPending(redis, USER, 1000);
    assert.equal(pending.notifications.length, EVENTS + 1, 'each event one notification, none made twice');
    assert.equal(new Set(pending.notifications.map((n) => n.objectId)).size, EVENTS + 1);
  });
});

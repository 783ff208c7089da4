import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('amqp', { RETRY_BASE_DELAY_MS: '200', CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2' });

describe('shared AMQP client against a real RabbitMQ', () => {
  let amqp: AmqpClient;
  before(async () => {
    amqp = await connectAmqp(config, testLogger);
  });
  after(async () => {
    await amqp.close();
    await cleanupTestResources(config);
  });

  it('publishes a persistent message with a broker confirm and consumes it with a manual ack', async () => {
    const received: ConsumeMessage[] = [];
    const consumer = await amqp.createChannel('test-consumer');
    await consumer.consume(
      amqp.topology.eventsQueues.social,
      (msg) => {
        received.push(msg);
        consumer.ack(msg);
      },
      { prefetch: 10 },
    );
    const publisher = await amqp.createChannel('test-publisher');
    const confirmed = await publisher.sendToQueue(amqp.topology.eventsQueues.social, Buffer.from('{"hello":"world"}'), {
      persistent: true,
      priority: 5,
      contentType: 'application/json',
      messageId: 'm-1',
    });
    assert.equal(confirmed, true);
    await eventually(() => received.length === 1, { what: 'the confirmed message to be consumed' });
    assert.equal(received[0]!.content.toString(), '{"hello":"world"}');
    assert.equal(received[0]!.properties.messageId, 'm-1');
    assert.equal(received[0]!.properties.deliveryMode, 2);
    assert.equal(received[0]!.properties.priority, 5);
    await consumer.close();
    await publisher.close();
  });

  it('delays a message in a retry queue and dead-letters it back into its work queue', async () => {
    const publisher = await amqp.createChannel('test-retry');
    const retryQueue = amqp.topology.eventsRetryQueues.social[0]!;
    const sentAt = Date.now();
    await publisher.sendToQueue(retryQueue, Buffer.from('retry-me'), { persistent: true });
    const msg = await eventually(
      async () => {
        const got = await publisher.get(amqp.topology.eventsQueues.social, { noAck: true });
        return got === false ? undefined : got;
      },
      { what: 'the delayed message to reach the events queue' },
    );
    assert.equal(msg.content.toString(), 'retry-me');
    assert.ok(Date.now() - sentAt >= 150, 'the broker held the message for its TTL first');
    const death = (msg.properties.headers?.['x-death'] as Array<{ queue: string; reason: string }>)[0]!;
    assert.equal(death.queue, retryQueue);
    assert.equal(death.reason, 'expired');
    await publisher.close();
  });

  it('declares the topology idempotently on every new channel', async () => {
    const again = await amqp.createChannel('redeclare');
    const check = await again.checkQueue(amqp.topology.persistDelayQueue);
    assert.equal(check.queue, amqp.topology.persistDelayQueue);
    await again.close();
  });
});

import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ConsumeMessage } from 'amqplib';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('amqp', { RETRY_BASE_DELAY_MS: '200', CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2' });

const brokerPort = Number(new URL(config.rabbitmq.urls[0]!).port || 5672);
const N = 50;

/**
 * Counts the system-call-level writes (Socket#_write and #_writev, each one `write`/`writev`)
 * made to the broker's port while `work` runs, and how many chunks (frames or runs of frames
 * amqplib handed over) they carried.
 */
async function countBrokerWrites(work: () => Promise<void>): Promise<{ writes: number; chunks: number }> {
  const proto = Socket.prototype as unknown as {
    _write: (...a: unknown[]) => unknown;
    _writev: (chunks: unknown[], cb: unknown) => unknown;
  };
  const { _write: write, _writev: writev } = proto;
  let writes = 0;
  let chunks = 0;
  const toBroker = (s: Socket) => s.remotePort === brokerPort;
  proto._write = function (this: Socket, ...a: unknown[]) {
    if (toBroker(this)) {
      writes += 1;
      chunks += 1;
    }
    return write.apply(this, a);
  };
  proto._writev = function (this: Socket, list: unknown[], cb: unknown) {
    if (toBroker(this)) {
      writes += 1;
      chunks += list.length;
    }
    return writev.call(this, list, cb);
  };
  try {
    await work();
  } finally {
    proto._write = write;
    proto._writev = writev;
  }
  return { writes, chunks };
}

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

  it(`AMQP frames of one turn go out in one socket write: ${N} publishes made together: one write, all confirmed and delivered in order; their ${N} acks: one write`, async () => {
    const queue = amqp.topology.eventsQueues.social;
    const publisher = await amqp.createChannel('test-publisher');
    const published = await countBrokerWrites(async () => {
      const confirms = Array.from({ length: N }, (_, i) =>
        publisher.sendToQueue(queue, Buffer.from(`m-${i}`), { persistent: true }),
      );
      assert.deepEqual(await Promise.all(confirms), Array(N).fill(true));
    });
    // Frame by frame this is N writes (amqplib writes each publish on its own).
    assert.ok(published.chunks >= N, `every publish was written (${published.chunks} chunks)`);
    assert.ok(published.writes <= 2, `${N} publishes took ${published.writes} writes`);

    const received: ConsumeMessage[] = [];
    const consumer = await amqp.createChannel('test-consumer');
    await consumer.consume(queue, (msg) => void received.push(msg), { prefetch: N });
    await eventually(() => received.length === N, { what: `the ${N} messages to be delivered` });
    assert.deepEqual(
      received.map((m) => m.content.toString()),
      Array.from({ length: N }, (_, i) => `m-${i}`),
      'in the order published',
    );
    const acked = await countBrokerWrites(async () => {
      for (const msg of received) consumer.ack(msg);
      // amqplib hands queued frames to the socket on the next turn (setImmediate); two turns
      // cover that, and nothing else is sent on this connection meanwhile.
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    });
    assert.ok(acked.chunks >= N, `every ack was written (${acked.chunks} chunks)`);
    assert.equal(acked.writes, 1, `${N} acks took ${acked.writes} writes`);
    await eventually(async () => (await publisher.checkQueue(queue)).messageCount === 0, {
      what: 'the acked messages to leave the queue',
    });
    await consumer.close();
    // None was left unacked: closing the channel would have put it back on the queue.
    assert.equal((await publisher.checkQueue(queue)).messageCount, 0, 'every ack reached the broker');
    await publisher.close();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { connectAmqp } from '../../shared/amqp/connection.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { PermanentError } from '../../shared/errors.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * A queue of the topology already exists with other arguments (an operator declared it by hand, a
 * release with other settings did, or a vhost whose default queue type is quorum made it): the
 * broker answers the declaration with 406 PRECONDITION_FAILED, and no retry changes that.
 * Start-up must fail with the broker's reason (the queue and the argument), not wait out
 * CONNECT_TIMEOUT_MS and then say RabbitMQ cannot be reached. The timeout is long so that only
 * the refusal can end the call within the test's budget.
 */
const { config } = testEnv('amqprefused', { CONNECT_TIMEOUT_MS: '60000' });

describe('a queue that exists with other arguments', () => {
  const topology = createTopology(config);
  // The classic topology declares its events queue with x-max-priority; this one has none.
  const queue = topology.eventsQueues.social;

  before(async () => {
    const connection = await amqplib.connect(config.rabbitmq.url);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true });
      await channel.close();
    } finally {
      await connection.close();
    }
  });
  after(() => cleanupTestResources(config));

  it('fails start-up at once with TopologyRefusedError naming the queue and the argument RabbitMQ compared', async () => {
    await assert.rejects(connectAmqp(config, testLogger), (err: unknown) => {
      // Permanent (TopologyRefusedError): not "unavailable", which a retry would cure.
      assert.ok(err instanceof PermanentError, `a permanent error, not: ${String(err)}`);
      assert.equal(err.name, 'TopologyRefusedError');
      assert.match(err.message, /^RABBITMQ_URL: /);
      assert.match(err.message, /PRECONDITION_FAILED/);
      assert.ok(err.message.includes(`'${queue}'`), `names the queue ${queue}: ${err.message}`);
      assert.match(err.message, /'x-max-priority'/);
      assert.doesNotMatch(err.message, /guest:guest/, 'no credentials');
      return true;
    });
  });
});

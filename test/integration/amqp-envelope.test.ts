import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage, MessagePropertyHeaders } from 'amqplib';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { settle } from '../../shared/amqp/envelope.js';
import { ATTEMPT_HEADER, DEAD_REASON_HEADER, ERROR_HEADER, SOURCE_HEADER } from '../../shared/amqp/failure-headers.js';
import { failurePolicies, type FailurePolicy } from '../../shared/amqp/failure-policy.js';
import { DependencyUnavailableError, PermanentError, TransientError } from '../../shared/errors.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * The consume envelope every queue consumer settles its failures with, on the real broker and
 * the real topology: the retry copies really wait in the TTL queues and come back through the
 * broker's dead-lettering, which is what adds the x-death history the envelope must not carry.
 */
const { config } = testEnv('envelope', {
  RETRY_BASE_DELAY_MS: '100',
  CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2',
  JOBS_RETRY_LADDER_RUNGS: '2',
  PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
});

type Death = { queue: string; count: number };

describe('the consume envelope on a real RabbitMQ', () => {
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let policies: ReturnType<typeof failurePolicies>;

  before(async () => {
    amqp = await connectAmqp(config, testLogger);
    publisher = await amqp.createChannel('test-publisher');
    policies = failurePolicies(amqp.topology);
  });
  after(async () => {
    await publisher.close();
    await amqp.close();
    await cleanupTestResources(config);
  });

  /** The next message of `queue`, unacked on `channel` (the envelope must settle it). */
  const next = (channel: ChannelWrapper, queue: string) =>
    eventually(async () => ((await channel.get(queue)) || undefined) as ConsumeMessage | undefined, {
      what: `a message on ${queue}`,
    });
  const headersOf = (msg: { properties: { headers?: MessagePropertyHeaders } }) => msg.properties.headers ?? {};
  const depth = async (queue: string) => (await publisher.checkQueue(queue)).messageCount;

  /**
   * Takes one message off the policy's work queue and settles it with `error`. Closing the
   * worker's channel afterwards hands back anything it did not ack, so the work queue's depth
   * then says whether the original was acked.
   */
  async function failOnce(policy: FailurePolicy, error: Error) {
    const worker = await amqp.createChannel('test-worker');
    const msg = await next(worker, policy.sourceQueue);
    const settled = await settle(worker, policy, msg, error);
    await worker.close();
    return { msg, settled };
  }

  it('dead-letters a PermanentError at once, with its reason and source, and acks the original', async () => {
    const policy = policies.events.social;
    await publisher.sendToQueue(policy.sourceQueue, Buffer.from('{"poison":true}'), {
      persistent: true,
      messageId: 'poison-1',
      priority: 5,
      headers: { 'x-error': 'written by an older release' },
    });
    const { settled } = await failOnce(policy, new PermanentError('invalid_event: amqp://user:secret@host says no'));
    assert.deepEqual(settled, {
      failed: true,
      outcome: 'dead_lettered',
      reason: 'invalid_event: amqp://***@host says no',
    });
    assert.equal(await depth(policy.sourceQueue), 0, 'the original was acked');
    assert.equal(await depth(policy.retryQueues[0]!), 0, 'a permanent error is never retried');
    const dead = await next(publisher, policy.deadQueue);
    assert.equal(dead.content.toString(), '{"poison":true}');
    assert.equal(dead.properties.messageId, 'poison-1');
    assert.equal(dead.properties.priority, 5);
    const h = headersOf(dead);
    assert.equal(h[DEAD_REASON_HEADER], 'invalid_event: amqp://***@host says no');
    assert.equal(h[SOURCE_HEADER], policy.sourceQueue);
    assert.equal(h[ATTEMPT_HEADER], 0);
    assert.equal(h['x-error'], undefined, 'the legacy error header is dropped, not kept beside the new one');
    publisher.ack(dead);
  });

  it("'dead-letter': climbs the retry ladder with attempt+1, then dead-letters after the last rung without x-death", async () => {
    const policy = policies.events.social;
    assert.equal(policy.whenExhausted, 'dead-letter');
    await publisher.sendToQueue(policy.sourceQueue, Buffer.from('{"flaky":true}'), {
      persistent: true,
      messageId: 'flaky-1',
    });
    for (let attempt = 0; attempt <= policy.retryQueues.length; attempt += 1) {
      const { msg, settled } = await failOnce(policy, new TransientError(`redis down #${attempt}`));
      const h = headersOf(msg);
      assert.equal(h[ATTEMPT_HEADER], attempt === 0 ? undefined : attempt);
      if (attempt > 0) {
        // Only the broker's record of the hop just made: the copy did not carry the earlier ones.
        assert.deepEqual(
          (h['x-death'] as Death[]).map((d) => [d.queue, d.count]),
          [[policy.retryQueues[attempt - 1], 1]],
        );
        assert.equal(h[ERROR_HEADER], `redis down #${attempt - 1}`);
        assert.equal(h[SOURCE_HEADER], policy.sourceQueue);
      }
      assert.equal(settled.outcome, attempt < policy.retryQueues.length ? 'retried' : 'dead_lettered');
    }
    assert.equal(await depth(policy.sourceQueue), 0, 'the last original was acked');
    const dead = await next(publisher, policy.deadQueue);
    const h = headersOf(dead);
    assert.equal(dead.properties.messageId, 'flaky-1');
    assert.equal(
      h[DEAD_REASON_HEADER],
      `retries exhausted after ${policy.retryQueues.length} attempts: redis down #${policy.retryQueues.length}`,
    );
    assert.equal(h[ATTEMPT_HEADER], policy.retryQueues.length);
    for (const name of ['x-death', 'x-first-death-queue', 'x-first-death-reason', 'x-first-death-exchange']) {
      assert.equal(h[name], undefined, `${name} is not carried into the dead letter`);
    }
    publisher.ack(dead);
  });

  it("'dead-letter': an outage of a dependency waits on the last rung past the ladder instead of dead-lettering", async () => {
    const policy = policies.fanout;
    assert.equal(policy.whenExhausted, 'dead-letter');
    const last = policy.retryQueues.length - 1;
    await publisher.sendToQueue(policy.sourceQueue, Buffer.from('{"page":1}'), {
      persistent: true,
      messageId: 'outage-1',
    });
    // As the fan-out handler meets it: a wrapper whose cause is the outage.
    const outage = new TransientError('fan-out page failed', {
      cause: new DependencyUnavailableError('redis: unreachable'),
    });
    for (let attempt = 0; attempt <= policy.retryQueues.length + 1; attempt += 1) {
      const { msg, settled } = await failOnce(policy, outage);
      assert.equal(headersOf(msg)[ATTEMPT_HEADER], attempt === 0 ? undefined : attempt);
      if (attempt > policy.retryQueues.length)
        assert.deepEqual(
          (headersOf(msg)['x-death'] as Death[]).map((d) => [d.queue, d.count]),
          [[policy.retryQueues[last], 1]],
          'past the ladder it waited on the last rung',
        );
      assert.deepEqual(settled, { failed: true, outcome: 'retried', reason: 'fan-out page failed' });
    }
    assert.equal(await depth(policy.deadQueue), 0, 'an outage is never dead-lettered');
    const back = await next(publisher, policy.sourceQueue);
    assert.equal(headersOf(back)[ATTEMPT_HEADER], policy.retryQueues.length + 2);
    publisher.ack(back);
  });

  it("'keep-retrying': stays on the last rung instead of dead-lettering, and reads an x-attempt written before", async () => {
    const policy = policies.persist;
    assert.equal(policy.whenExhausted, 'keep-retrying');
    const last = policy.retryQueues.length - 1;
    // A retry copy the previous jobs release wrote: its attempt count goes on from there.
    await publisher.sendToQueue(policy.sourceQueue, Buffer.from('{"notifications":[]}'), {
      persistent: true,
      headers: { [ATTEMPT_HEADER]: 1, 'x-error': 'mongodb: old outage' },
    });
    for (let round = 0; round < 4; round += 1) {
      const { msg, settled } = await failOnce(policy, new TransientError('mongodb: unreachable'));
      const h = headersOf(msg);
      assert.equal(h[ATTEMPT_HEADER], 1 + round);
      if (round > 0) {
        // Attempt 1 waited on rung 1, the last: so does every attempt after it, and the broker's
        // history holds that one hop only (count 1), however often the message came through it.
        assert.deepEqual(
          (h['x-death'] as Death[]).map((d) => [d.queue, d.count]),
          [[policy.retryQueues[last], 1]],
        );
        assert.equal(h['x-error'], undefined);
        assert.equal(h[ERROR_HEADER], 'mongodb: unreachable');
      }
      assert.deepEqual(settled, { failed: true, outcome: 'retried', reason: 'mongodb: unreachable' });
    }
    assert.equal(await depth(policy.deadQueue), 0, 'a transient failure is never dead-lettered');
    const back = await next(publisher, policy.sourceQueue);
    assert.equal(headersOf(back)[ATTEMPT_HEADER], 5);
    publisher.ack(back);
  });

  it('nacks the original back onto its queue when even the copy cannot be published', async () => {
    // A queue name AMQP cannot carry (over 255 bytes): the copy's publish fails, never confirmed.
    const policy = { ...policies.events.social, deadQueue: `${config.rabbitmq.namePrefix}${'x'.repeat(300)}` };
    await publisher.sendToQueue(policy.sourceQueue, Buffer.from('{"stuck":true}'), {
      persistent: true,
      messageId: 'stuck-1',
    });
    const { settled } = await failOnce(policy, new PermanentError('poison'));
    assert.equal(settled.outcome, 'requeued');
    const again = await next(publisher, policy.sourceQueue);
    assert.equal(again.properties.messageId, 'stuck-1');
    assert.equal(again.fields.redelivered, true);
    publisher.ack(again);
  });
});

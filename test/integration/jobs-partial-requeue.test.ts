import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { startBatchConsumer, type BatchConsumer } from '../../jobs/batch-consumer.js';
import { persistCodec, persistHandler } from '../../jobs/handlers.js';
import { createJobsMetrics } from '../../jobs/metrics.js';
import { ATTEMPT_HEADER } from '../../shared/amqp/failure-headers.js';
import type { Config } from '../../shared/config.js';
import { connectInfra, type Infra } from '../../shared/infra.js';
import { JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { createRegistry } from '../../shared/metrics.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

/*
 * A persist batch whose write fails while only some of its retry copies can be published. The
 * second rung of the retry ladder gets a name AMQP cannot carry (over 255 bytes), so the copy of
 * a message on its second attempt is never confirmed while the copies of first attempts are:
 * a failure at copy k of a batch, on the real broker. Each message must then exist exactly once,
 * as its retry copy, its dead letter, or itself back on the work queue.
 */
describe('jobs batch whose retry copies are published only in part', () => {
  let direct: Config;
  let proxy: TcpProxy;
  let infra: Infra;
  let publisher: ChannelWrapper;
  let consumer: BatchConsumer | undefined;
  let proxyDown = false;

  before(async () => {
    ({ config: direct } = testEnv('jobspartialrequeue', {
      // Long enough that a confirmed copy is still waiting in its retry queue when counted.
      RETRY_BASE_DELAY_MS: '60000',
      JOBS_RETRY_LADDER_RUNGS: '2',
      CONNECT_TIMEOUT_MS: '1500',
      PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
    }));
    let config: Config;
    ({ proxy, config } = await mongoBehindProxy(direct));
    infra = await connectInfra(config, testLogger, { mongoRequired: true });
    publisher = await infra.amqp.createChannel('test-publisher');
  });
  after(async () => {
    await consumer?.stop();
    if (proxyDown) await proxy.start();
    await publisher.close();
    await infra.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  /** Takes every message off `queue`: its messageId and attempt header. */
  async function takeAll(queue: string): Promise<Array<{ id: unknown; attempt: unknown }>> {
    const taken: Array<{ id: unknown; attempt: unknown }> = [];
    for (;;) {
      const msg = await publisher.get(queue, { noAck: true });
      if (msg === false) return taken;
      taken.push({ id: msg.properties.messageId, attempt: msg.properties.headers?.[ATTEMPT_HEADER] });
    }
  }

  it('acks the messages whose copy was confirmed and requeues only the one whose copy failed', async () => {
    const { topology } = infra.amqp;
    const [firstRung] = topology.persistRetryQueues;
    assert.ok(firstRung);
    const broken = {
      ...topology,
      persistRetryQueues: [firstRung, `${topology.persistRetryQueues[1]}${'x'.repeat(300)}`],
    };
    await proxy.cut();
    proxyDown = true;

    // In batch order: a body that can never be written (dead-lettered before the write), two
    // first attempts (copied to the first rung), then a second attempt whose copy fails.
    const send = (messageId: string, body: Buffer, headers: Record<string, unknown> = {}) =>
      publisher.sendToQueue(topology.persistQueue, body, {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
        messageId,
        headers,
      });
    await send('poison', Buffer.from('not json'));
    await send('first-1', Buffer.from(JSON.stringify(makeNotification('partial'))));
    await send('first-2', Buffer.from(JSON.stringify(makeNotification('partial'))));
    await send('second', Buffer.from(JSON.stringify(makeNotification('partial'))), { [ATTEMPT_HEADER]: 1 });

    const rounds: string[][] = [];
    const inner = persistHandler(
      { redis: infra.redis, models: infra.models, metrics: createJobsMetrics(createRegistry('jobs')), config: direct },
      broken,
      testLogger,
    );
    consumer = await startBatchConsumer(infra.amqp, testLogger, {
      name: 'test-jobs-persist',
      queue: topology.persistQueue,
      prefetch: 10,
      batchSize: 100,
      flushMs: 300,
      drainTimeoutMs: 10_000,
      ...persistCodec,
      handle: (batch, channel) => {
        rounds.push(batch.map((d) => String(d.msg.properties.messageId)).sort());
        return inner(batch, channel);
      },
    });
    // The failed message comes back at once (no hold in the process) and fails again: three
    // rounds show what the first one left on the work queue.
    await eventually(() => rounds.length >= 3, { what: 'three batches', timeoutMs: 60_000 });
    await consumer.stop();
    consumer = undefined;

    assert.deepEqual(rounds[0], ['first-1', 'first-2', 'poison', 'second'], 'the four came as one batch');
    for (const later of rounds.slice(1))
      assert.deepEqual(later, ['second'], 'only the message whose copy failed came back');
    assert.deepEqual(await takeAll(topology.persistDeadQueue), [{ id: 'poison', attempt: 0 }], 'dead-lettered once');
    assert.deepEqual(
      await takeAll(firstRung),
      [
        { id: 'first-1', attempt: 1 },
        { id: 'first-2', attempt: 1 },
      ],
      'each confirmed retry copy once, its original acked',
    );
    assert.deepEqual(
      await takeAll(topology.persistQueue),
      [{ id: 'second', attempt: 1 }],
      'the message without a copy is back on its queue, once',
    );
  });
});

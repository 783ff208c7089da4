import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import type { Config } from '../../shared/config.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const QUERY_TIMEOUT_MS = 1000;

/*
 * MongoDB accepts connections and never answers (a stalling proxy, not a refused port): the
 * batch's write gives up at MONGO_BATCH_TIMEOUT_MS and the batch goes to the retry queues
 * instead of hanging with its messages, nothing is acked unstored, and once MongoDB answers
 * again every notification is stored exactly once. CONNECT_TIMEOUT_MS is long so that only
 * the query deadline, not the driver's connection monitor, can free a hung write in time.
 */
const { config: direct } = testEnv('jobsmongostall', {
  MONGO_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  MONGO_BATCH_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  CONNECT_TIMEOUT_MS: '30000',
  RETRY_BASE_DELAY_MS: '200',
  JOBS_RETRY_LADDER_RUNGS: '2',
  PERSIST_FLUSH_MS: '50',
});

describe('jobs while MongoDB hangs', () => {
  let proxy: TcpProxy;
  let config: Config;
  let jobs: JobsService;
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let mongo: Connection;

  const metric = async (name: string) => {
    const line = (await jobs.registry.metrics()).split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const depth = async (queue: string) => (await publisher.checkQueue(queue)).messageCount;

  before(async () => {
    ({ proxy, config } = await mongoBehindProxy(direct));
    jobs = await bootstrap(config, testLogger);
    amqp = await connectAmqp(direct, testLogger);
    publisher = await amqp.createChannel('test-publisher');
    mongo = await connectMongo(direct, testLogger);
  });
  after(async () => {
    await jobs.close();
    await publisher.close();
    await amqp.close();
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('hands a stalled batch to the retry queues within the deadline and stores it once MongoDB answers', async () => {
    proxy.stall();
    const notifications = Array.from({ length: 20 }, (_, i) => makeNotification(`stall${i % 4}`));
    const ids = notifications.map((n) => n.id);
    for (const n of notifications) {
      await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(n), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
        messageId: n.id,
      });
    }

    // Without a deadline the write would hang on the held connection with all 20 messages.
    const started = performance.now();
    await eventually(async () => (await metric('jobs_messages_retried_total')) >= ids.length, {
      what: 'the stalled batch to be retried',
      timeoutMs: QUERY_TIMEOUT_MS + 4000,
      intervalMs: 50,
    });
    assert.ok(performance.now() - started < QUERY_TIMEOUT_MS + 4000);
    assert.equal(
      await models(mongo).Notification.countDocuments({ _id: { $in: ids } }),
      0,
      'nothing stored while stalled',
    );
    assert.equal(await depth(amqp.topology.persistDeadQueue), 0, 'a timeout is transient: nothing dead-lettered');

    proxy.resume();
    await eventually(
      async () => (await models(mongo).Notification.countDocuments({ _id: { $in: ids } })) === ids.length,
      {
        what: 'every notification stored after the stall',
        timeoutMs: 60_000,
      },
    );
    // Nothing left behind in any queue, nothing inserted twice.
    const queues = [amqp.topology.persistQueue, ...amqp.topology.persistRetryQueues];
    await eventually(async () => (await Promise.all(queues.map(depth))).every((d) => d === 0), {
      what: 'the persist queues to drain',
    });
    const docs = await models(mongo)
      .Notification.find({ userId: /^stall\d$/ }, { _id: 1 })
      .lean();
    assert.deepEqual(docs.map((d) => d._id).sort(), [...ids].sort());
    assert.equal(await metric('jobs_notifications_persisted_total'), ids.length, 'each notification inserted once');
    assert.equal(await depth(amqp.topology.persistDeadQueue), 0);
  });
});

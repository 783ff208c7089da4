import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { loadConfig } from '../../shared/config.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const base = testEnv('jobsreconnect', { PERSIST_BATCH_SIZE: '20', PERSIST_FLUSH_MS: '100', PERSIST_PREFETCH: '200' });

/**
 * A RabbitMQ outage leaves a backlog in the persist queue; when jobs reconnects, the broker
 * delivers it the instant the consumer is re-subscribed. Every one of those must be written and
 * acked (regression: they were once tagged with the old channel's generation and left unacked).
 */
describe('jobs after losing RabbitMQ', () => {
  const proxy = new TcpProxy('127.0.0.1', Number(new URL(base.config.rabbitmq.url).port || 5672));
  let jobs: JobsService;
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let mongo: Connection;
  let m: Models;

  before(async () => {
    await proxy.start();
    const config = loadConfig({
      ...base.env,
      RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
      AMQP_HEARTBEAT_SECONDS: '1',
    });
    jobs = await bootstrap(config, testLogger);
    amqp = await connectAmqp(base.config, testLogger); // direct, not through the proxy
    publisher = await amqp.createChannel('test-publisher');
    mongo = await connectMongo(base.config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    await jobs.close();
    await amqp.close();
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(base.config);
  });

  it('writes the whole backlog that was queued while it was disconnected', async () => {
    await proxy.cut();
    await eventually(async () => (await fetch(`http://127.0.0.1:${jobs.port}/readyz`)).status === 503, {
      what: 'jobs to notice the broker is gone',
    });
    const backlog = Array.from({ length: 150 }, (_, i) => makeNotification(`user${i % 7}`, { seq: i + 1 }));
    for (const n of backlog) {
      await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(n), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }
    await proxy.start();

    const stored = await eventually(
      async () => {
        const count = await m.Notification.countDocuments({ _id: { $in: backlog.map((n) => n.id) } });
        return count === backlog.length ? count : undefined;
      },
      { what: 'every backlogged persist job to be stored', timeoutMs: 60_000 },
    );
    assert.equal(stored, backlog.length);
    await eventually(async () => (await publisher.checkQueue(amqp.topology.persistQueue)).messageCount === 0, {
      what: 'the persist queue to drain',
    });
  });
});

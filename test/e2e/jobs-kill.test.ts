import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { v7 as uuidv7 } from 'uuid';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { ackNotifications, bufferNotification } from '../helpers/buffer.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { encodeNotification, type Notification } from '../../shared/notification.js';
import { encodePersistBatch } from '../../shared/persist-batch.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const { env, config } = testEnv('jobskill', {
  PERSIST_BATCH_SIZE: '50',
  PERSIST_FLUSH_MS: '50',
  PERSIST_PREFETCH: '100',
});

/** jobs as a real process, from source, so other services' unfinished code cannot break the build. */
function startJobs(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'jobs/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
}

describe('jobs killed with SIGKILL mid-batch', () => {
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  let proc: ChildProcess | undefined;

  before(async () => {
    amqp = await connectAmqp(config, testLogger);
    publisher = await amqp.createChannel('test-publisher');
    redis = await connectRedis(config, testLogger);
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await publisher.close();
    await amqp.close();
    await closeRedis(redis);
    await mongo.close();
    await cleanupTestResources(config);
  });

  it('persists every notification exactly once with the right state after a restart', async () => {
    const all: Notification[] = Array.from({ length: 600 }, (_, i) => ({
      id: uuidv7(),
      userId: `killed${i % 10}`,
      seq: i + 1,
      type: 'LIKE',
      priority: 5,
      actors: ['a'],
      actorCount: 1,
      objectId: 'post1',
      message: 'a liked your post',
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: [],
    }));
    const acked = new Set(all.filter((_, i) => i % 2 === 0).map((n) => n.id));
    for (const n of all) {
      await bufferNotification(redis, n, 3600);
      if (acked.has(n.id)) await ackNotifications(redis, n.userId, [n.id], 3600);
    }
    // The first half as bare notifications (the body before batches), the rest in batch
    // messages of 20 as the consumer publishes them.
    const bodies = [
      ...all.slice(0, 300).map((n) => encodeJson(n)),
      ...Array.from({ length: 15 }, (_, i) =>
        encodePersistBatch(all.slice(300 + i * 20, 320 + i * 20).map(encodeNotification)),
      ),
    ];
    await Promise.all(
      bodies.map((body) =>
        publisher.sendToQueue(amqp.topology.persistQueue, body, { persistent: true, contentType: JSON_CONTENT_TYPE }),
      ),
    );
    const stored = () => m.Notification.countDocuments({ userId: /^killed/ });

    proc = startJobs();
    await eventually(async () => (await stored()) > 0, {
      what: 'the first batch to be written',
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    const exit = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exit;
    const atKill = await stored();
    assert.ok(atKill < all.length, `killed mid-way (${atKill} of ${all.length} stored)`);

    proc = startJobs();
    await eventually(async () => (await stored()) === all.length, {
      what: 'every notification stored',
      timeoutMs: 60_000,
    });
    const docs = await m.Notification.find({ userId: /^killed/ }, { status: 1 }).lean();
    assert.equal(new Set(docs.map((d) => d._id)).size, all.length, 'each id exactly once');
    for (const d of docs) assert.equal(d.status, acked.has(d._id) ? 'delivered' : 'undelivered', d._id);
    const exitAgain = once(proc, 'exit');
    proc.kill('SIGTERM');
    const [code] = (await exitAgain) as [number | null];
    assert.equal(code, 0, 'SIGTERM drains and exits 0');
  });
});

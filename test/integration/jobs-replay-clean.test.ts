import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { bufferNotification } from '../helpers/buffer.js';
import { keys } from '../../shared/keys.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { encodeNotification, type Notification } from '../../shared/notification.js';
import { encodePersistBatch } from '../../shared/persist-batch.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { markReplayClean } from '../../shared/replay-clean.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('jobsreplayclean', { PERSIST_FLUSH_MS: '50' });

/**
 * If Redis lost a buffered copy (a crash losing its last writes), the ws-server's "replay clean"
 * mark must not hide the notification: jobs, storing it as undelivered, clears the mark.
 */
describe('jobs and the replay-clean mark', () => {
  let jobs: JobsService;
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  const persist = async (n: Notification) => {
    await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(n), {
      persistent: true,
      contentType: JSON_CONTENT_TYPE,
    });
    await eventually(() => m.Notification.findById(n.id).lean(), { what: 'the notification to be stored' });
  };

  before(async () => {
    jobs = await bootstrap(config, testLogger);
    amqp = await connectAmqp(config, testLogger);
    publisher = await amqp.createChannel('test-publisher');
    redis = await connectRedis(config, testLogger, 'test');
    mongo = await connectMongo(config, testLogger);
    m = models(mongo);
  });
  after(async () => {
    await jobs.close();
    await amqp.close();
    await closeRedis(redis);
    await mongo.close();
    await cleanupTestResources(config);
  });

  it('clears the mark of a user whose undelivered notification has no buffered copy', async () => {
    await markReplayClean(redis, 'lost-copy', null, 3600);
    await persist(makeNotification('lost-copy')); // never buffered: as if Redis had lost it
    await eventually(async () => (await redis.exists(keys.replayClean('lost-copy'))) === 0, {
      what: 'the mark to be cleared',
    });
  });

  it('keeps the mark while the undelivered notification is still buffered', async () => {
    const n = makeNotification('still-buffered');
    await bufferNotification(redis, n, 3600);
    await markReplayClean(redis, 'still-buffered', Date.now(), 3600);
    await persist(n);
    // A later job for another user proves this batch's after-write steps have run.
    await persist(makeNotification('someone-else'));
    assert.equal(await redis.exists(keys.replayClean('still-buffered')), 1);
  });

  it('in one batch message, clears the mark of the user whose copy is gone and keeps the others', async () => {
    const kept = makeNotification('batch-kept');
    const acked = makeNotification('batch-acked');
    await bufferNotification(redis, kept, 3600);
    // Acked before it was stored: stored as delivered, so a missing copy does not matter.
    await redis.set(keys.acked(acked.userId, acked.id), Date.now());
    for (const user of ['batch-kept', 'batch-lost', 'batch-acked'])
      await markReplayClean(redis, user, Date.now(), 3600);
    const batch = [kept, makeNotification('batch-lost'), acked];
    await publisher.sendToQueue(amqp.topology.persistQueue, encodePersistBatch(batch.map(encodeNotification)), {
      persistent: true,
      contentType: JSON_CONTENT_TYPE,
    });
    await eventually(async () => (await redis.exists(keys.replayClean('batch-lost'))) === 0, {
      what: 'the lost copy to clear its mark',
    });
    assert.equal(await redis.exists(keys.replayClean('batch-kept')), 1);
    assert.equal(await redis.exists(keys.replayClean('batch-acked')), 1);
  });
});

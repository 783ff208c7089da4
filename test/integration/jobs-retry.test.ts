import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { v7 as uuidv7 } from 'uuid';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import type { Config } from '../../shared/config.js';
import { encodeJson, JSON_CONTENT_TYPE, type AckBatchMessage } from '../../shared/messages.js';
import { models } from '../../shared/models/index.js';
import { insertDoc } from '../../shared/models/notification-state.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { encodePersistBatch } from '../../shared/persist-batch.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

describe('jobs while MongoDB is unreachable', () => {
  let proxy: TcpProxy;
  let config: Config;
  let direct: Config;
  let jobs: JobsService;
  let amqp: AmqpClient;
  let publisher: ChannelWrapper;
  let mongo: Connection;
  let proxyDown = false;

  const metric = async (name: string, labels = '') => {
    const line = (await jobs.registry.metrics())
      .split('\n')
      .find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  before(async () => {
    ({ config: direct } = testEnv('jobsretry', {
      RETRY_BASE_DELAY_MS: '200',
      JOBS_RETRY_LADDER_RUNGS: '2',
      CONNECT_TIMEOUT_MS: '1500',
    }));
    ({ proxy, config } = await mongoBehindProxy(direct));
    jobs = await bootstrap(config, testLogger);
    amqp = await connectAmqp(config, testLogger);
    publisher = await amqp.createChannel('test-publisher');
    mongo = await connectMongo(direct, testLogger);
  });
  after(async () => {
    if (proxyDown) await proxy.start();
    await jobs.close();
    await publisher.close();
    await amqp.close();
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('retries a failed batch through the retry queues, past the last attempt, and stores it once MongoDB is back', async () => {
    await proxy.cut();
    proxyDown = true;
    const ids = Array.from({ length: 6 }, () => uuidv7());
    const jsons = ids.map((id, i) =>
      JSON.stringify({
        id,
        userId: 'offline',
        seq: i + 1,
        type: 'LIKE',
        priority: 5,
        actors: ['a'],
        actorCount: 1,
        objectId: null,
        message: 'a liked your post',
        createdAt: new Date().toISOString(),
        version: 1,
        eventIds: [],
      }),
    );
    const invalid = JSON.stringify({ id: uuidv7(), userId: 'offline' });
    // Three bare notifications (the body before batches) and one batch message of three, with an
    // invalid item that must ride the retries along and be dead-lettered once, at the end.
    const bodies = [...jsons.slice(0, 3).map((j) => Buffer.from(j)), encodePersistBatch([...jsons.slice(3), invalid])];
    for (const body of bodies) {
      await publisher.sendToQueue(amqp.topology.persistQueue, body, {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }
    // JOBS_RETRY_LADDER_RUNGS=2, yet the messages keep coming back: an outage is waited out. One retry
    // per message, not per notification.
    await eventually(
      async () => (await metric('jobs_messages_retried_total', 'queue="persist"')) >= 3 * bodies.length,
      {
        what: 'three rounds of retries',
        timeoutMs: 60_000,
      },
    );
    assert.equal(await models(mongo).Notification.countDocuments({ userId: 'offline' }), 0);
    const dead = await publisher.checkQueue(amqp.topology.persistDeadQueue);
    assert.equal(dead.messageCount, 0, 'nothing dead-lettered for a transient failure');

    await proxy.start();
    proxyDown = false;
    await eventually(
      async () => (await models(mongo).Notification.countDocuments({ userId: 'offline' })) === ids.length,
      {
        what: 'the retried jobs to be stored',
        timeoutMs: 60_000,
      },
    );
    const docs = await models(mongo).Notification.find({ userId: 'offline' }).lean();
    assert.deepEqual(docs.map((d) => d._id).sort(), [...ids].sort());
    assert.ok(docs.every((d) => d.status === 'undelivered'));
    // The batch came back intact through every retry: its invalid item is still in it, once.
    const deadLetter = await eventually(
      async () => (await publisher.get(amqp.topology.persistDeadQueue, { noAck: true })) || undefined,
      {
        what: 'the invalid item dead-lettered',
      },
    );
    assert.deepEqual(JSON.parse(deadLetter.content.toString()), { notifications: [JSON.parse(invalid)] });
    await eventually(async () => (await metric('jobs_messages_dead_lettered_total')) === 1, {
      what: 'the dead-letter count',
    });
    assert.equal((await publisher.checkQueue(amqp.topology.persistDeadQueue)).messageCount, 0, 'dead-lettered once');
  });

  it('retries a failed ack batch through the acks retry queues, past the last attempt, and applies it once MongoDB is back', async () => {
    const stored = makeNotification('acked-offline');
    await models(mongo).Notification.insertMany([insertDoc(stored, { ackedAtMs: null, readAtMs: null }, new Date())]);
    await proxy.cut();
    proxyDown = true;
    const ack: AckBatchMessage = {
      userId: stored.userId,
      ackedAt: new Date().toISOString(),
      notificationIds: [stored.id],
    };
    await publisher.sendToQueue(amqp.topology.acksQueue, encodeJson(ack), {
      persistent: true,
      contentType: JSON_CONTENT_TYPE,
    });
    // JOBS_RETRY_LADDER_RUNGS=2: a third retry means it stayed on the last rung instead of being dropped.
    await eventually(async () => (await metric('jobs_messages_retried_total', 'queue="acks"')) >= 3, {
      what: 'three retries of the ack batch',
      timeoutMs: 60_000,
    });
    assert.equal((await models(mongo).Notification.findById(stored.id).lean())?.status, 'undelivered');
    assert.equal(
      (await publisher.checkQueue(amqp.topology.persistDeadQueue)).messageCount,
      0,
      'nothing dead-lettered for a transient failure',
    );

    await proxy.start();
    proxyDown = false;
    await eventually(
      async () => (await models(mongo).Notification.findById(stored.id).lean())?.status === 'delivered',
      {
        what: 'the retried ack to be applied',
        timeoutMs: 60_000,
      },
    );
  });
});

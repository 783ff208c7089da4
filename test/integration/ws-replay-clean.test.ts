import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import mongoose from 'mongoose';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import type { Notification } from '../../shared/notification.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient, replayCounts } from '../helpers/ws-client.js';

// A 2-second buffer so a buffered copy really expires inside the test.
const { config } = testEnv('wsreplayclean', { BUFFER_TTL_SECONDS: '2' });

/**
 * AUTH reads MongoDB only when a notification may have outlived its buffered copy; the rest of
 * the time a (re)connect costs Redis reads only. This shows the skip is never wrong: once the
 * copy expires, the next AUTH goes back to MongoDB and replays the notification from there.
 */
describe('ws-server: replay skips MongoDB only while nothing can be missing from Redis', () => {
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  let mongo: mongoose.Connection;
  let db: Models;
  const clients: WsTestClient[] = [];

  before(async () => {
    server = await bootstrap(config, testLogger);
    consumer = await SimulatedConsumer.start(config);
    mongo = await mongoose.createConnection(config.mongo.url).asPromise();
    db = models(mongo);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await mongo.close();
    await cleanupTestResources(config);
  });

  async function connect(userId: string) {
    const [client, ok] = await WsTestClient.authed(server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
    });
    clients.push(client);
    return [client, ok] as const;
  }

  /** What jobs stores for a notification nobody acked within PERSIST_DELAY_MS. */
  async function storeUndelivered(n: Notification): Promise<void> {
    await db.Notification.create({
      ...n,
      _id: n.id,
      createdAt: new Date(n.createdAt),
      status: 'undelivered',
      persistedAt: new Date(),
    });
  }

  it('marks a user clean until the oldest pending copy expires, then replays the expired one from MongoDB', async () => {
    const n = await consumer.buffer(await consumer.make('carol'));
    await storeUndelivered(n);

    const [first, ok1] = await connect('carol');
    assert.equal(ok1.pending, 1);
    assert.deepEqual(
      (await first.waitForNotifications(1)).map((f) => f.notification.id),
      [n.id],
    );
    assert.deepEqual(replayCounts(await first.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 1,
      recovered: true,
    });
    first.close();

    const ttlMs = await consumer.redis.pttl(keys.replayClean('carol'));
    assert.ok(ttlMs > 0 && ttlMs <= 2000, `clean mark bounded by the pending copy's expiry (pttl ${ttlMs})`);

    // The buffered copy expires (the mark with it); the notification now lives in MongoDB only.
    await eventually(async () => (await consumer.redis.exists(keys.notification('carol', n.id))) === 0, {
      what: 'the copy to expire',
    });
    await sleep(50);

    const [second, ok2] = await connect('carol');
    assert.deepEqual([ok2.pending, ok2.catchingUp], [0, true], 'nothing in Redis, MongoDB to be asked');
    assert.deepEqual(
      (await second.waitForNotifications(1)).map((f) => f.notification.id),
      [n.id],
      'replayed from MongoDB',
    );
    assert.deepEqual(replayCounts(await second.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 1,
      recovered: true,
    });
  });

  it('sets no mark while MongoDB holds an undelivered notification that Redis does not', async () => {
    const n = await consumer.make('dave');
    await storeUndelivered(n); // never buffered, or its copy is long gone
    const [client, ok] = await connect('dave');
    assert.equal(ok.pending, 0);
    await client.waitForNotifications(1);
    assert.equal((await client.next('REPLAY_DONE')).pending, 1);
    assert.equal(await consumer.redis.exists(keys.replayClean('dave')), 0);
  });

  it('sets no mark when a resume finds nothing after its lastSeq but MongoDB holds older undelivered ones', async () => {
    // A seq the client saw whose notification MongoDB holds undelivered: after a Redis failover
    // that lost its commit and its ACK, jobs stores it so (docs/reliability.md "Redis failover").
    const n = await consumer.make('erin');
    await storeUndelivered(n);
    const token = await signUserToken('erin', config.auth.jwtSecret);
    const [resumed, ok] = await WsTestClient.authed(server.port, { token, lastSeq: n.seq });
    clients.push(resumed);
    assert.equal(ok.catchingUp, true);
    assert.deepEqual(replayCounts(await resumed.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 0,
      recovered: true,
    });
    assert.equal(await consumer.redis.exists(keys.replayClean('erin')), 0, 'the next AUTH still asks MongoDB');
    const [fresh] = await connect('erin');
    assert.deepEqual(
      (await fresh.waitForNotifications(1)).map((f) => f.notification.id),
      [n.id],
      'a fresh AUTH replays it',
    );
  });
});

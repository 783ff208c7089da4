import assert from 'node:assert/strict';
import mongoose from 'mongoose';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { models } from '../../shared/models/index.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { MAX_FRAMES_IN_FLIGHT } from '../../ws-server/frame-window.js';
import { MAX_STORED_ACK_CHECKS } from '../../ws-server/stored-ack.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { WsTestClient } from '../helpers/ws-client.js';
import { storedNotification } from '../helpers/stored-notification.js';

/*
 * An ACK of notifications only MongoDB holds (the replay's catch-up sends those) waits for
 * MongoDB, up to its query deadline. With MongoDB hung (a stalling proxy in front of the real
 * FerretDB), as many such ACKs as the instance handles frames at once (frame-window.ts) must not
 * stop it: a new socket still authenticates and a Redis-buffered notification's ACK is still
 * answered, while those ACKs are still unanswered. A socket may have MAX_STORED_ACK_CHECKS of
 * them waiting (stored-ack.ts; ws-ack-check-bound.test.ts shows the bound), so as many sockets
 * as it takes each send that many.
 */
const SOCKETS = MAX_FRAMES_IN_FLIGHT / MAX_STORED_ACK_CHECKS;
const { config: direct } = testEnv('wsackmongostall', {
  // Long enough that "still unanswered" below is about the stall, not a race with the deadline.
  MONGO_QUERY_TIMEOUT_MS: '6000',
  // The default: AUTH does not sit out the test default's 1 s for a count MongoDB cannot give.
  MONGO_FALLBACK_WAIT_MS: '50',
});

describe('ws-server: ACKs of MongoDB-only notifications while MongoDB hangs', () => {
  let proxy: TcpProxy;
  let config: Config;
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  let mongo: mongoose.Connection;
  const clients: WsTestClient[] = [];
  const authed = async (userId: string) => {
    const [client, ok] = await WsTestClient.authed(server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
    });
    clients.push(client);
    return [client, ok] as const;
  };

  before(async () => {
    ({ proxy, config } = await mongoBehindProxy(direct));
    server = await bootstrap(config, testLogger);
    consumer = await SimulatedConsumer.start(direct);
    // Straight to FerretDB, not through the proxy the test stalls.
    mongo = await mongoose.createConnection(direct.mongo.url).asPromise();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('still authenticates and answers the ACK of a buffered notification', async () => {
    // Each staller's notifications past the buffer's TTL: in MongoDB only.
    const users = Array.from({ length: SOCKETS }, (_, u) => `staller-${u}`);
    const storedIds = new Map(
      users.map((userId) => [userId, Array.from({ length: MAX_STORED_ACK_CHECKS }, (_, i) => `${userId}-stored-${i}`)]),
    );
    await models(mongo).Notification.insertMany(
      [...storedIds].flatMap(([userId, ids]) => ids.map((_id) => storedNotification({ _id, userId }))),
    );
    const own = await consumer.buffer(await consumer.make(users[0]!));
    const stallers = await Promise.all(
      users.map(async (userId) => {
        const [client] = await authed(userId);
        await client.next('REPLAY_DONE'); // its catch-up read MongoDB while it was healthy
        return client;
      }),
    );
    const staller = stallers[0]!;
    assert.ok(staller.notificationIds().includes(own.id));

    proxy.stall();
    // One ACK frame per MongoDB-only id, as many as the instance handles at once. A PING is
    // answered in read order without a frame slot, so its PONG says every ACK was read.
    stallers.forEach((client, u) => {
      for (const id of storedIds.get(users[u]!)!) client.send({ type: 'ACK', notificationId: id });
      client.send({ type: 'PING' });
    });
    await Promise.all(stallers.map((client) => client.next('PONG')));

    const fresh = await consumer.buffer(await consumer.make('newcomer'));
    const [newcomer, ok] = await authed('newcomer');
    assert.equal(ok.pending, 1);
    assert.deepEqual(
      (await newcomer.waitForNotifications(1)).map((f) => f.notification.id),
      [fresh.id],
    );
    newcomer.send({ type: 'ACK', notificationId: fresh.id });
    assert.deepEqual((await newcomer.next('ACKED')).ids, [fresh.id]);
    staller.send({ type: 'ACK', notificationId: own.id });
    assert.deepEqual((await staller.next('ACKED')).ids, [own.id]);
    assert.deepEqual(
      stallers
        .flatMap((client) => client.frames.filter((f) => f.type === 'ERROR' || f.type === 'ACKED'))
        .map((f) => f.type),
      ['ACKED'],
      'the MongoDB-only ACKs are still waiting on MongoDB: answered neither way yet',
    );

    // ...and are answered when MongoDB gives up on them: retry these ids.
    const unavailable = await staller.next('ERROR');
    assert.equal(unavailable.code, 'UNAVAILABLE');
    assert.ok(
      unavailable.ids?.length === 1 && storedIds.get(users[0]!)!.includes(unavailable.ids[0]!),
      JSON.stringify(unavailable),
    );
  });
});

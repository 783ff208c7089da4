import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

const { config } = testEnv('wscluster');

describe('ws-server: two instances, each on its own wake channel', () => {
  let a: WsServerService;
  let b: WsServerService;
  let consumer: SimulatedConsumer;
  const clients: WsTestClient[] = [];
  const authed = async (server: WsServerService, userId: string) => {
    const [client] = await WsTestClient.authed(server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
    });
    clients.push(client);
    return client;
  };

  before(async () => {
    a = await bootstrap(config, testLogger);
    b = await bootstrap(config, testLogger);
    consumer = await SimulatedConsumer.start(config);
  });
  after(async () => {
    for (const c of clients) c.close();
    await a.close();
    await b.close();
    await consumer.close();
    await cleanupTestResources(config);
  });

  it('subscribes each instance to its own wake channel on a connection of its own', async () => {
    assert.notEqual(a.wakeConnectionName, b.wakeConnectionName);
    // PUBSUB NUMSUB counts one server's subscribers: on a Redis Cluster, every node's are added up.
    const numsub = async (channel: string) => {
      let subscribers = 0;
      for (const server of consumer.redis instanceof Cluster ? consumer.redis.nodes('all') : [consumer.redis]) {
        subscribers += ((await server.pubsub('NUMSUB', channel)) as [string, number])[1];
      }
      return subscribers;
    };
    assert.equal(await numsub(keys.wakeChannel(config.redis.keyPrefix, a.instanceId)), 1);
    assert.equal(await numsub(keys.wakeChannel(config.redis.keyPrefix, b.instanceId)), 1);
  });

  it('delivers to a user whose only socket is on instance B', async () => {
    const onB = await authed(b, 'only-b');
    const n = await consumer.deliver(await consumer.make('only-b'));
    const [frame] = await onB.waitForNotifications(1);
    assert.equal(frame?.notification.id, n.id);
  });

  it('delivers to every socket of a user with one socket on each instance', async () => {
    const onA = await authed(a, 'both');
    const onB = await authed(b, 'both');
    const n = await consumer.deliver(await consumer.make('both'));
    assert.equal((await onA.waitForNotifications(1))[0]?.notification.id, n.id);
    assert.equal((await onB.waitForNotifications(1))[0]?.notification.id, n.id);
  });

  it('an ACK on one instance stops the other from redelivering after a reconnect', async () => {
    const onA = await authed(a, 'acker');
    const n = await consumer.deliver(await consumer.make('acker'));
    await onA.waitForNotifications(1);
    onA.send({ type: 'ACK', notificationId: n.id });
    await onA.next('ACKED');
    const onB = await authed(b, 'acker');
    const marker = await consumer.deliver(await consumer.make('acker'));
    await eventually(() => onB.notificationIds().includes(marker.id), { what: 'marker on B' });
    assert.deepEqual(onB.notificationIds(), [marker.id]);
  });
});

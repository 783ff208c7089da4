import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import type { WsServerService } from '../../ws-server/bootstrap.js';
import { testEnv } from '../helpers/config.js';
import type { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { wsServerPairSuite } from '../helpers/ws-suite.js';

const { config } = testEnv('wscluster');

describe('ws-server: two instances, each on its own wake channel', () => {
  const pair = wsServerPairSuite(config);
  const { authed } = pair;
  // Set once the pair's before hook (registered first, so run first) has started them.
  let a: WsServerService, b: WsServerService, consumer: SimulatedConsumer;
  before(() => ({ a, b, consumer } = pair));

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

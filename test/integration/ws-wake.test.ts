import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { keys } from '../../shared/keys.js';
import { readTimeline } from '../../shared/timeline.js';
import { testEnv } from '../helpers/config.js';
import { wsServerSuite } from '../helpers/ws-suite.js';
import { killConnection, recordCommands } from '../helpers/redis-commands.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

// No route refresh round during the tests: one asserts the push path sends Redis nothing.
const { config } = testEnv('wswake', { WS_ROUTE_REFRESH_MS: '600000', WS_ROUTE_TTL_MS: '1200000' });

/** The Redis wake channel as the ws-server hears it: push wakes, garbage, and a lost subscription. */
describe('ws-server: wakes on the Redis channel', () => {
  const suite = wsServerSuite(config);
  const authed = async (userId: string) => {
    const [client, ok] = await WsTestClient.authed(suite.server.port, {
      token: await signUserToken(userId, config.auth.jwtSecret),
    });
    suite.clients.push(client);
    if (ok.catchingUp) await client.next('REPLAY_DONE'); // the catch-up's Redis writes are over
    return [client, ok] as const;
  };

  it('pushes a push wake to every socket of the user without a single Redis command, with the count it carries', async () => {
    // A counter that exists (none has to be rebuilt from MongoDB), so the commit below bumps it.
    await suite.consumer.redis.set(keys.unreadCount('zero'), '0');
    const [phone, ok] = await authed('zero');
    const [laptop] = await authed('zero');
    assert.equal(ok.unread, 0);
    const n = await suite.consumer.buffer(await suite.consumer.make('zero', { message: 'no reads' }));
    const commands = recordCommands(suite.server.redis);
    try {
      const heard = await suite.consumer.push(n);
      // On a cluster PUBLISH counts only the subscribers of the node that took it (it still reaches all).
      if (!suite.consumer.redis.isCluster) assert.equal(heard, 1, 'the one ws-server heard it');
      const [onPhone] = await phone.waitForNotifications(1);
      const [onLaptop] = await laptop.waitForNotifications(1);
      // A PING answered after the frames: anything the push handler sent to Redis was sent by now.
      phone.send({ type: 'PING' });
      await phone.next('PONG');
      assert.deepEqual(commands.names, [], 'the push read nothing and wrote nothing');
      for (const frame of [onPhone, onLaptop]) {
        assert.equal(frame?.notification.id, n.id);
        assert.equal(frame?.notification.message, 'no reads');
        assert.equal(frame?.unread, 1, 'the count after the commit, from the wake');
      }
      assert.deepEqual(onPhone, onLaptop, 'both sockets got the same frame');
    } finally {
      commands.restore();
    }
    assert.equal((await readTimeline(suite.consumer.redis, 'zero', n.id)).sent, undefined, "'sent' waits for the ACK");
  });

  it('does not send a push wake again at the version a socket holds in flight, but does send a newer one', async () => {
    const [client] = await authed('versions');
    const n = await suite.consumer.deliver(await suite.consumer.make('versions'));
    await suite.consumer.push(n);
    await suite.consumer.deliver({ ...n, version: 2, actors: ['actor2', 'actor1'], actorCount: 2 });
    await eventually(() => client.notifications().some((f) => f.notification.version === 2), { what: 'version 2' });
    client.send({ type: 'PING' });
    await client.next('PONG');
    assert.deepEqual(
      client.notifications().map((f) => f.notification.version),
      [1, 2],
    );
  });

  it('drops a malformed wake and goes on with the next one', async () => {
    const [client] = await authed('garbage');
    const channel = keys.wakeChannel(config.redis.keyPrefix, suite.server.instanceId);
    await suite.consumer.redis.publish(channel, '{not json');
    await suite.consumer.redis.publish(
      channel,
      JSON.stringify({ kind: 'push', userId: 'garbage', notification: { id: 'x' } }),
    );
    const other = await suite.consumer.make('someone-else');
    await suite.consumer.redis.publish(
      channel,
      JSON.stringify({ kind: 'push', userId: 'garbage', notification: other }),
    );
    const n = await suite.consumer.deliver(await suite.consumer.make('garbage'));
    const [frame] = await client.waitForNotifications(1);
    assert.equal(frame?.notification.id, n.id);
    assert.deepEqual(
      client.notificationIds(),
      [n.id],
      "nothing from the malformed ones, nor another user's notification",
    );
  });

  it('replays from the buffer what was published while its subscriber connection was cut', async () => {
    const [client] = await authed('gap');
    const before = await suite.consumer.deliver(await suite.consumer.make('gap'));
    await client.waitForNotifications(1);
    const lost = await suite.consumer.buffer(await suite.consumer.make('gap', { message: 'published into the gap' }));
    assert.ok(
      await killConnection(suite.consumer.redis, suite.server.wakeConnectionName),
      'the subscriber connection was there',
    );
    assert.equal(await suite.consumer.push(lost), 0, 'nobody heard this wake');
    const frame = await eventually(() => client.notifications().find((f) => f.notification.id === lost.id), {
      what: 'the lost notification after the resync',
    });
    assert.equal(frame.notification.message, 'published into the gap');
    assert.deepEqual(client.notificationIds(), [before.id, lost.id], 'what was in flight is not sent again');

    // And the subscription is live again.
    const later = await suite.consumer.deliver(await suite.consumer.make('gap'));
    await eventually(() => client.notificationIds().includes(later.id), { what: 'a wake after the resync' });
  });
});

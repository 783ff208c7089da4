import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { UNREAD_STATUSES } from '../../shared/models/notification-state.js';
import { connectMongo } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';

const USER = 'user3';

/** The badge an app shows: the client keeps the count with the highest version it was told. */
function latestUnread(app: AppClient): { count: number; version: number } {
  return app.client.unread ?? { count: -1, version: -1 };
}

/**
 * The live unread count over a sequence of deliveries, reads and read-all, with two apps (the
 * project's client) of the same user. After each step the test waits until MongoDB holds every
 * notification involved (PERSIST_DELAY_MS is long enough that some reads land while a
 * notification exists only in Redis), then requires: MongoDB's unread documents = the HTTP
 * count = the count both apps show, at the HTTP count's version.
 */
describe('the live unread count', () => {
  let p: Pipeline;
  let m: Models;
  let redis: Redis;
  let closeMongo: () => Promise<void>;
  const clients: AppClient[] = [];
  before(async () => {
    p = await startPipeline('unreadcount', { PERSIST_DELAY_MS: '1500' });
    const mongo = await connectMongo(p.config, testLogger);
    closeMongo = () => mongo.close();
    m = models(mongo);
    redis = await connectRedis(p.config, testLogger, 'test');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await closeRedis(redis);
    await closeMongo();
    await p.close();
  });

  const connect = async () => {
    const client = await AppClient.open(p.wsPort, { token: await p.token(USER) });
    clients.push(client);
    return [client, client.authOk()] as const;
  };
  const like = async (actorId: string, postId: string) => {
    const res = await p.post('/events', { actorId, targetId: USER, postId, type: 'LIKE' });
    assert.equal(res.status, 202);
  };
  const httpCount = async () => {
    const res = await p.request('GET', `/users/${USER}/notifications/unread-count`, USER);
    assert.equal(res.status, 200);
    return res.body as { userId: string; unread: number; version: number };
  };
  const stored = (ids: string[], extra: Record<string, unknown> = {}) =>
    eventually(
      async () =>
        (await m.Notification.countDocuments({ _id: { $in: ids }, ...extra })) === ids.length ? true : undefined,
      {
        what: `${ids.length} notifications stored ${JSON.stringify(extra)}`,
      },
    );
  const newest = (c: AppClient) => c.notifications.at(-1)!;

  async function expectUnread(expected: number, sockets: AppClient[]) {
    const inMongo = await m.Notification.countDocuments({ userId: USER, status: { $in: [...UNREAD_STATUSES] } });
    assert.equal(inMongo, expected, 'unread notifications in MongoDB');
    const http = await httpCount();
    assert.equal(http.unread, inMongo, 'the HTTP count equals MongoDB');
    for (const socket of sockets) {
      const seen = await eventually(
        () => {
          const s = latestUnread(socket);
          return s.version === http.version ? s : undefined;
        },
        { what: `a socket told unread version ${http.version} (has ${JSON.stringify(latestUnread(socket))})` },
      );
      assert.equal(seen.count, inMongo, 'the count on the socket equals MongoDB');
    }
    return http;
  }

  it('matches MongoDB at every step: deliveries, an aggregate update, reads (also before persistence, also twice), read-all', async () => {
    const [a, okA] = await connect();
    const [b] = await connect();
    assert.equal(okA.unread, 0);
    assert.equal(typeof okA.unreadVersion, 'number');
    await expectUnread(0, [a, b]);

    // Three deliveries (distinct posts, so three notifications).
    await like('user1', 'post1');
    await like('user2', 'post2');
    await like('user4', 'post4');
    const delivered = await a.waitForNotifications(3);
    await b.waitForNotifications(3);
    for (const f of [...a.of('NOTIFICATION'), ...b.of('NOTIFICATION')]) {
      assert.equal(typeof f.unread, 'number', 'every push carries the count');
      assert.equal(typeof f.unreadVersion, 'number', 'every push carries the version');
    }
    const onPost = (postId: string) => delivered.find((x) => x.objectId === postId)!;
    const [n1, n2, n3] = [onPost('post1'), onPost('post2'), onPost('post4')];
    await a.ack(n1.id, n2.id, n3.id);
    await stored([n1.id, n2.id, n3.id], { status: 'delivered' });
    await expectUnread(3, [a, b]);

    // A read: every socket of the user gets an UNREAD frame.
    assert.equal((await p.request('PATCH', `/notifications/${n1.id}/read`, USER)).status, 200);
    const unreadA = await a.next('UNREAD');
    await b.next('UNREAD');
    assert.equal(unreadA.count, 2);
    const afterRead = await expectUnread(2, [a, b]);

    // Reading it again changes nothing, not even the version.
    assert.equal((await p.request('PATCH', `/notifications/${n1.id}/read`, USER)).status, 200);
    const again = await httpCount();
    assert.deepEqual([again.unread, again.version], [2, afterRead.version]);

    // A like on post2 from someone else grows n2 (same id, version 2): not a new unread one.
    await like('user5', 'post2');
    const grown = await eventually(() => b.notifications.find((n) => n.id === n2.id && n.version === 2), {
      what: 'n2 (the like on post2) at version 2: the client shows the same id again',
    });
    assert.equal(grown.actorCount, 2);
    await stored([n2.id], { version: 2 });
    await expectUnread(2, [a, b]);

    // A read while the notification exists only in Redis (its persist delay); jobs stores it as read.
    await like('user6', 'post6');
    await a.waitForNotifications(5);
    const n4 = newest(a);
    assert.equal((await p.request('PATCH', `/notifications/${n4.id}/read`, USER)).status, 200);
    await stored([n4.id], { status: 'read' });
    await expectUnread(2, [a, b]);

    // read-all, with one notification still only in Redis.
    await like('user7', 'post7');
    await a.waitForNotifications(6);
    const n5 = newest(a);
    const all = await p.request('POST', `/users/${USER}/notifications/read-all`, USER);
    assert.equal(all.status, 200);
    assert.equal(all.body.marked, 3, 'n2, n3 and n5');
    await stored([n5.id], { status: 'read' });
    const zero = await expectUnread(0, [a, b]);
    assert.equal(latestUnread(b).count, 0);

    // read-all with nothing unread changes nothing.
    assert.deepEqual((await p.request('POST', `/users/${USER}/notifications/read-all`, USER)).body, {
      userId: USER,
      marked: 0,
    });
    assert.equal((await httpCount()).version, zero.version);

    // A new delivery after read-all.
    await like('user8', 'post8');
    await a.waitForNotifications(7);
    await b.waitForNotifications(7);
    await stored([newest(a).id]);
    const one = await expectUnread(1, [a, b]);

    // A socket connecting now is told the same count and version in AUTH_OK.
    const [c, okC] = await connect();
    assert.deepEqual([okC.unread, okC.unreadVersion], [1, one.version]);

    // Redis lost the counter: it is rebuilt from MongoDB under a higher version, so a client
    // holding an older version can tell it missed a change.
    await redis.del(keys.unreadCount(USER));
    const rebuilt = await httpCount();
    assert.equal(rebuilt.unread, 1);
    assert.ok(rebuilt.version > one.version, 'a rebuild moves the version on');
    assert.ok(latestUnread(c).version < rebuilt.version);
  });
});

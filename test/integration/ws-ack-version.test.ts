import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keys } from '../../shared/keys.js';
import { models, type Models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * An ACK settles the version the client holds. A grown aggregate (same id, version 2) committed
 * after the client got version 1 is pending again; the client's ACK of version 1 reaching the
 * ws-server after that commit (the client library holds ACKs ~50 ms, and resends owed ones right
 * after AUTH_OK while the replay goes out) must leave version 2 pending: redelivered, replayed on
 * AUTH, stored undelivered until its own ACK (docs/pipeline.md, "Aggregation").
 */
describe('ws-server: an ACK of an older version of a grown aggregate', () => {
  let p: Pipeline;
  let redis: Redis;
  let mongo: Connection;
  let m: Models;
  let consumer: SimulatedConsumer;
  const clients: WsTestClient[] = [];

  before(async () => {
    p = await startPipeline('ackversion', { ACK_TIMEOUT_MS: '300', MAX_REDELIVERIES: '20' });
    redis = await connectRedis(p.config, testLogger, 'ack-version-test');
    mongo = await connectMongo(p.config, testLogger);
    m = models(mongo);
    consumer = await SimulatedConsumer.start(p.config);
  });
  after(async () => {
    for (const c of clients) c.close();
    await consumer.close();
    await mongo.close();
    await closeRedis(redis);
    await p.close();
  });

  const pending = async (userId: string, id: string) => (await redis.zscore(keys.inbox(userId), id)) !== null;
  const ackedMark = (userId: string, id: string) => redis.exists(keys.acked(userId, id));
  const versionFrames = (client: WsTestClient, id: string, version: number) =>
    client.notifications().filter((f) => f.notification.id === id && f.notification.version === version).length;

  it('leaves version 2 pending when the ACK of version 1 arrives after its commit: redelivered, replayed on AUTH, stored undelivered', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user2') });
    clients.push(client);
    await p.post('/events', { actorId: 'user1', targetId: 'user2', postId: 'post1', type: 'LIKE' });
    const v1 = (await client.waitForNotifications(1))[0]!.notification;
    assert.equal(v1.version, 1);
    await p.post('/events', { actorId: 'user3', targetId: 'user2', postId: 'post1', type: 'LIKE' });
    await eventually(() => versionFrames(client, v1.id, 2) > 0 || undefined, { what: 'version 2 pushed' });

    // The client's ACK of version 1, arriving late.
    client.send({ type: 'ACK', notificationId: v1.id, version: 1 });
    const answer = await client.next('ACKED');
    assert.deepEqual(answer.ids, [v1.id], 'answered, so the client stops resending its ACK of version 1');
    assert.equal(await pending('user2', v1.id), true, 'version 2 is still pending');
    assert.equal(await ackedMark('user2', v1.id), 0, 'version 2 has no acked mark');

    const sent = versionFrames(client, v1.id, 2);
    await eventually(() => versionFrames(client, v1.id, 2) > sent || undefined, {
      what: 'version 2 redelivered after the ACK of version 1',
    });
    client.close();

    const [again, ok] = await WsTestClient.authed(p.wsPort, { token: await p.token('user2') });
    clients.push(again);
    assert.equal(ok.pending, 1, 'a fresh AUTH counts version 2 as pending');
    const [replayed] = await again.waitForNotifications(1);
    assert.deepEqual([replayed!.notification.id, replayed!.notification.version], [v1.id, 2], 'and replays it');

    const stored = await eventually(
      async () => {
        const doc = await m.Notification.findById(v1.id).lean();
        return doc?.version === 2 ? doc : undefined;
      },
      { what: 'version 2 stored' },
    );
    assert.equal(stored.status, 'undelivered', 'stored undelivered: nobody acked version 2');

    again.send({ type: 'ACK', notificationId: v1.id, version: 2 });
    assert.deepEqual((await again.next('ACKED')).ids, [v1.id]);
    assert.equal(await pending('user2', v1.id), false, 'its own ACK settles version 2');
    await eventually(
      async () => ((await m.Notification.findById(v1.id).lean())?.status === 'delivered' ? true : undefined),
      { what: 'version 2 stored as delivered after its ACK' },
    );
  });

  it('takes the version this socket sent for an ACK without one, and sends the newer buffered version at once', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('oldclient') });
    clients.push(client);
    const v1 = await consumer.deliver(await consumer.make('oldclient'));
    await client.waitForNotifications(1);
    // Version 2 committed, its wake not here yet: this socket holds version 1 in flight.
    const v2 = await consumer.buffer({
      ...v1,
      seq: (await consumer.make('oldclient')).seq,
      version: 2,
      actors: ['actor2', 'actor1'],
      actorCount: 2,
      message: 'actor2 and actor1 liked your post',
    });

    // A client before versions: ids only.
    client.send({ type: 'ACK', notificationId: v1.id });
    assert.deepEqual((await client.next('ACKED')).ids, [v1.id]);
    await eventually(() => versionFrames(client, v2.id, 2) > 0 || undefined, {
      what: 'version 2 sent to the socket that acked version 1',
    });
    assert.equal(await pending('oldclient', v1.id), true, 'version 2 is still pending');
    assert.equal(await ackedMark('oldclient', v1.id), 0);

    // Now this socket last sent version 2: the same ACK settles it.
    client.send({ type: 'ACK', notificationId: v1.id });
    assert.deepEqual((await client.next('ACKED')).ids, [v1.id]);
    assert.equal(await pending('oldclient', v1.id), false);
    assert.equal(await ackedMark('oldclient', v1.id), 1);
  });
});

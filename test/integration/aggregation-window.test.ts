import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

interface Stored {
  id: string;
  actors: string[];
  actorCount: number;
  message: string;
  version: number;
  objectId: string | null;
}

async function history(p: Pipeline, userId: string): Promise<Stored[]> {
  const res = await p.request('GET', `/users/${userId}/notifications?limit=100`, userId);
  assert.equal(res.status, 200);
  return (res.body as { notifications: Stored[] }).notifications;
}

/** The consumer's consumer_events_processed_total for one outcome. */
async function processed(p: Pipeline, outcome: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${p.consumerPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('consumer_events_processed_total{') && l.includes(`outcome="${outcome}"`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('aggregation: 100 likes through two consumers fold into one notification', () => {
  let p: Pipeline;
  let second: ConsumerService;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('aggburst', { AGGREGATION_WINDOW_MS: '120000', RATE_LIMIT_RECIPIENT_PER_MINUTE: '1000' });
    second = await startConsumer(p.config, testLogger);
  });
  after(async () => {
    for (const c of clients) c.close();
    await second.close();
    await p.close();
  });

  it('ends with one notification, actorCount 100, the right message, at the last version, persisted so', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user2') });
    clients.push(client);
    const actors = Array.from({ length: 100 }, (_, i) => `fan${i + 1}`);
    const results = await Promise.all(
      actors.map((actorId) => p.post('/events', { actorId, targetId: 'user2', postId: 'post1', type: 'LIKE' })),
    );
    assert.ok(results.every((r) => r.status === 202));

    const last = await eventually(() => client.notifications().find((f) => f.notification.version === 100), {
      what: 'the notification at version 100',
      timeoutMs: 30_000,
    });
    const ids = new Set(client.notificationIds());
    assert.equal(ids.size, 1, 'every push is the same notification');
    const n = last.notification as unknown as Stored;
    assert.equal(n.actorCount, 100);
    assert.equal(new Set(n.actors).size, n.actors.length, 'actors are distinct');
    assert.ok(n.actors.every((a) => actors.includes(a)));
    assert.equal(n.message, `${n.actors[0]}, ${n.actors[1]} and 98 others liked your post`);
    // Versions only grow on the socket: the client can always replace by id with the newest.
    const versions = client.notifications().map((f) => f.notification.version);
    assert.equal(Math.max(...versions), 100);

    const stored = await eventually(
      async () => (await history(p, 'user2')).find((s) => s.id === n.id && s.version === 100),
      { what: 'the persisted aggregate at version 100', timeoutMs: 20_000 },
    );
    assert.equal(stored.actorCount, 100);
    assert.equal(stored.message, n.message);
    assert.equal((await history(p, 'user2')).length, 1);
  });
});

describe('aggregation: windows per object, and a closed window starts a new notification', () => {
  let p: Pipeline;
  const clients: WsTestClient[] = [];
  before(async () => {
    p = await startPipeline('aggwindow', { AGGREGATION_WINDOW_MS: '2500' });
  });
  after(async () => {
    for (const c of clients) c.close();
    await p.close();
  });

  it('likes on two posts make two notifications; an acked aggregate that grows comes back and is acked again', async () => {
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token('user3') });
    clients.push(client);
    await p.post('/events', { actorId: 'user1', targetId: 'user3', postId: 'post5', type: 'LIKE' });
    await p.post('/events', { actorId: 'user2', targetId: 'user3', postId: 'post6', type: 'LIKE' });
    const frames = await client.waitForNotifications(2);
    assert.notEqual(frames[0]!.notification.id, frames[1]!.notification.id);
    assert.deepEqual(frames.map((f) => f.notification.message).sort(), [
      'Ada liked your post',
      'Grace liked your post',
    ]);

    const onPost5 = frames.find((f) => f.notification.message === 'Ada liked your post')!.notification;
    client.send({ type: 'ACK', notificationId: onPost5.id });
    await client.next('ACKED');

    await p.post('/events', { actorId: 'user4', targetId: 'user3', postId: 'post5', type: 'LIKE' });
    const grown = await eventually(
      () => client.notifications().find((f) => f.notification.id === onPost5.id && f.notification.version === 2),
      {
        what: 'the grown aggregate',
      },
    );
    assert.equal(grown.notification.message, 'Margaret and Ada liked your post');
    assert.ok(grown.notification.seq > onPost5.seq, 'an update gets a new seq so lastSeq resumes see it');
    client.send({ type: 'ACK', notificationId: onPost5.id });
    const acked = await client.next('ACKED');
    assert.deepEqual(acked.ids, [onPost5.id]);

    // The same actor again inside the window is not counted twice. Only once the consumer has
    // handled it does the version checked below say anything: it is counted as a duplicate (the
    // same like inside ACTION_DEDUPE_WINDOW_MS).
    const duplicates = await processed(p, 'duplicate');
    const again = await p.post('/events', {
      actorId: 'user4',
      targetId: 'user3',
      postId: 'post5',
      type: 'LIKE',
      eventId: 'again-user4-post5',
    });
    assert.equal(again.status, 202, JSON.stringify(again.body));
    await eventually(async () => (await processed(p, 'duplicate')) === duplicates + 1, {
      what: 'the repeated like handled as a duplicate',
    });

    // After the window closes, a new like opens a new notification.
    await new Promise((resolve) => setTimeout(resolve, 2800));
    await p.post('/events', { actorId: 'user5', targetId: 'user3', postId: 'post5', type: 'LIKE' });
    const fresh = await eventually(
      () => client.notifications().find((f) => f.notification.message === 'Ken liked your post'),
      {
        what: 'a new notification after the window',
      },
    );
    assert.notEqual(fresh.notification.id, onPost5.id);
    assert.equal(fresh.notification.version, 1);
    const versionsOfFirst = client
      .notifications()
      .filter((f) => f.notification.id === onPost5.id)
      .map((f) => f.notification.version);
    assert.equal(Math.max(...versionsOfFirst), 2, 'the repeated actor did not grow the aggregate');
  });
});

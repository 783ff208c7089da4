import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';

/**
 * One notification's whole path through the four real services: HTTP in, consumer, Redis
 * buffer, live WebSocket push to an app on the project's client, its ACK, batched persistence,
 * and the read API.
 */
describe('the whole pipeline, end to end', () => {
  let p: Pipeline;
  const clients: AppClient[] = [];
  before(async () => {
    p = await startPipeline('pipeline');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await p.close();
  });

  async function history(userId: string) {
    const res = await p.request('GET', `/users/${userId}/notifications?limit=50`, userId);
    assert.equal(res.status, 200);
    return res.body as { notifications: Array<{ id: string; status: string; message: string }> };
  }

  it('delivers a like live to a connected user, persists it as delivered after the ACK, and serves it in history', async () => {
    const client = await AppClient.open(p.wsPort, { token: await p.token('user2') });
    clients.push(client);
    assert.equal(client.authOk().pending, 0);
    assert.equal((await client.resume()).recovered, true);

    const accepted = await p.post('/like', { actorId: 'user1', targetId: 'user2', postId: 'post3', type: 'LIKE' });
    assert.equal(accepted.status, 202);
    const eventId = accepted.body.eventId as string;
    assert.ok(eventId);

    const [n] = await client.waitForNotifications(1);
    assert.equal(n!.type, 'LIKE');
    assert.equal(n!.message, 'Ada liked your post');
    client.client.ack(n!.id);
    const acked = await client.next('ACKED');
    assert.deepEqual(acked.ids, [n!.id]);

    const stored = await eventually(
      async () => (await history('user2')).notifications.find((i) => i.id === n!.id && i.status === 'delivered'),
      { what: 'the notification persisted as delivered' },
    );
    assert.equal(stored.message, 'Ada liked your post');

    const unread = await p.request('GET', '/users/user2/notifications/unread-count', 'user2');
    assert.equal(unread.status, 200);
    assert.equal(unread.body.unread, 1);

    const read = await p.request('PATCH', `/notifications/${n!.id}/read`, 'user2');
    assert.equal(read.status, 200);
    const after = await p.request('GET', '/users/user2/notifications/unread-count', 'user2');
    assert.equal(after.body.unread, 0);

    const timeline = await p.request('GET', `/notifications/${n!.id}/timeline`, 'user2');
    assert.equal(timeline.status, 200);
    const stages = (timeline.body as { stages: Record<string, string | null> }).stages;
    const order = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'];
    for (const stage of order) assert.ok(stages[stage], `timeline records ${stage}: ${JSON.stringify(stages)}`);
    const times = order.map((stage) => Date.parse(stages[stage]!));
    assert.deepEqual(
      [...times].sort((a, b) => a - b),
      times,
      'stages happened in pipeline order',
    );
  });

  it('keeps a notification for an offline user, persists it as undelivered, and delivers it on connect', async () => {
    const accepted = await p.post('/events', { type: 'FOLLOW', actorId: 'user4', targetId: 'user5' });
    assert.equal(accepted.status, 202);

    const undelivered = await eventually(
      async () => (await history('user5')).notifications.find((i) => i.status === 'undelivered'),
      { what: 'the offline notification persisted as undelivered' },
    );
    assert.equal(undelivered.message, 'Margaret started following you');

    const client = await AppClient.open(p.wsPort, { token: await p.token('user5') });
    clients.push(client);
    assert.equal(client.authOk().pending, 1);
    const [n] = await client.waitForNotifications(1);
    assert.equal(n!.id, undelivered.id);
    assert.deepEqual(await client.resume(), { recovered: true, replayed: 1, pending: 1 });
    await client.ack(undelivered.id);
    await eventually(
      async () =>
        (await history('user5')).notifications.find((i) => i.id === undelivered.id && i.status === 'delivered'),
      { what: 'the late ACK to move the stored notification to delivered' },
    );
  });

  it('counts a retried POST once, end to end', async () => {
    const client = await AppClient.open(p.wsPort, { token: await p.token('user7') });
    clients.push(client);
    const body = { type: 'COMMENT', actorId: 'user6', targetId: 'user7', postId: 'post13', commentId: 'c1' };
    for (let i = 0; i < 3; i++) {
      const res = await p.post('/events', body, { 'idempotency-key': 'retry-me-once' });
      assert.equal(res.status, 202);
      assert.equal(res.body.eventId, 'retry-me-once');
    }
    await client.waitForNotifications(1);
    const persisted = await eventually(
      async () => {
        const items = (await history('user7')).notifications;
        return items.length > 0 ? items : undefined;
      },
      { what: 'the comment persisted' },
    );
    assert.equal(persisted.length, 1);
    assert.equal(client.notifications.length, 1);
  });
});

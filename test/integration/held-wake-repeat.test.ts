import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { createTopology, type Topology } from '../../shared/amqp/topology.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * A do-not-disturb hold reaches a connected socket only through the wake the consumer schedules
 * on the broker's delay ladder; the commit itself publishes none. If that wake is lost after the
 * commit (its publish failed, or the consumer died before the confirm), the event comes again
 * and commits as a duplicate: it must schedule the wake again, as it repeats the persist hand-off,
 * or the notification waits in the buffer until the user's next AUTH. Shown by taking the first
 * wake off the ladder (what a lost publish leaves behind) and sending the same event again.
 */

function hhmmss(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

describe('a held wake lost after the commit comes back with the redelivered event', () => {
  let p: Pipeline;
  let topology: Topology;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  const clients: WsTestClient[] = [];

  before(async () => {
    // The consumer reads preferences from Redis for every batch (its in-memory copy off): a
    // PUT's 200 comes after the new Redis copy is stored, so the next event is decided by it with
    // no pub/sub hop to wait for. The invalidation of that copy is preferences-apply.test.ts's.
    p = await startPipeline('heldwake', { CONSUMER_PREFERENCES_CACHE_MS: '0' });
    topology = createTopology(p.config);
    conn = await amqplib.connect(p.config.rabbitmq.url);
    ch = await conn.createChannel();
  });
  after(async () => {
    for (const c of clients) c.close();
    await ch.close();
    await conn.close();
    await p.close();
  });

  async function put(userId: string, body: unknown): Promise<void> {
    const res = await fetch(`${p.producerUrl}/users/${userId}/preferences`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await p.token(userId)}` },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, await res.text());
  }

  const onLadder = async () => {
    let n = 0;
    for (const queue of topology.wakeDelayQueues) n += (await ch.checkQueue(queue)).messageCount;
    return n;
  };

  /** Commits a LIKE for `userId` under do-not-disturb and drops its scheduled wake; returns the socket and the event. */
  async function heldAndWakeLost(userId: string, eventId: string, windowEndsAt: number) {
    await put(userId, {
      doNotDisturb: { start: hhmmss(Date.now() - 60_000), end: hhmmss(windowEndsAt), timeZone: 'UTC' },
    });
    const [client] = await WsTestClient.authed(p.wsPort, { token: await p.token(userId) });
    clients.push(client!);
    const like = { type: 'LIKE', actorId: 'user1', targetId: userId, postId: `${eventId}-post`, eventId };
    assert.equal((await p.post('/events', like)).status, 202);
    await eventually(async () => (await onLadder()) === 1, { what: 'the held wake on the delay ladder' });
    for (const queue of topology.wakeDelayQueues) await ch.purgeQueue(queue);
    assert.equal(await onLadder(), 0);
    return { client: client!, like };
  }

  const arrived = (client: WsTestClient, eventId: string, timeoutMs: number) =>
    eventually(() => client.notifications().find((f) => f.notification.objectId === `${eventId}-post`), {
      what: `the like of ${eventId}`,
      timeoutMs,
    });

  it('still inside the window: the duplicate schedules the wake again, and the like arrives when the window ends', async () => {
    const endsAt = Date.now() + 5000;
    const { client, like } = await heldAndWakeLost('user8', 'held-again-1', endsAt);
    assert.equal((await p.post('/events', like)).status, 202, 'the same event again: a duplicate');
    await eventually(async () => (await onLadder()) === 1, { what: 'the wake scheduled again' });
    const got = await arrived(client, 'held-again-1', 20_000);
    assert.ok(Date.now() >= endsAt - 1000, 'not before the window ended');
    assert.equal(got.notification.type, 'LIKE');
  });

  it('the window lifted meanwhile: the duplicate wakes the socket at once', async () => {
    const { client, like } = await heldAndWakeLost('user9', 'held-again-2', Date.now() + 60_000);
    assert.equal(client.notifications().length, 0, 'held: nothing pushed yet');
    // The lift is in Redis before the PUT answers, and the consumer reads it there (cache off, see
    // before). The event is then decided 'deliver', a duplicate, and only its own wake can reach
    // the socket (a stale 'hold' would schedule one for the window's end, a minute away).
    await put('user9', { doNotDisturb: null });
    assert.equal((await p.post('/events', like)).status, 202, 'the same event again: a duplicate');
    const got = await arrived(client, 'held-again-2', 10_000);
    assert.equal(got.notification.type, 'LIKE');
    assert.equal(await onLadder(), 0, 'nothing scheduled: the window is gone');
  });
});

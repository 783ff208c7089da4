import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';

function hhmmss(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/**
 * Do-not-disturb also holds back the AUTH replay: a socket that connects inside the window gets
 * transactional notifications at once and the held social ones only when the window ends.
 */
describe('do-not-disturb and the AUTH replay', () => {
  let p: Pipeline;
  const clients: AppClient[] = [];
  before(async () => {
    p = await startPipeline('dndreplay');
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await p.close();
  });

  it('replays only the transactional notification inside the window, the held like when it ends', async () => {
    const user = 'user9';
    const now = Date.now();
    const endsAt = now + 5000;
    const prefs = await fetch(`${p.producerUrl}/users/${user}/preferences`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await p.token(user)}` },
      body: JSON.stringify({ doNotDisturb: { start: hhmmss(now - 60_000), end: hhmmss(endsAt), timeZone: 'UTC' } }),
    });
    assert.equal(prefs.status, 200);

    // Both buffered while the user is offline (the live count sees both).
    assert.equal(
      (await p.post('/events', { actorId: 'user1', targetId: user, postId: 'post11', type: 'LIKE' })).status,
      202,
    );
    assert.equal((await p.post('/events', { targetId: user, type: 'SECURITY', text: 'new sign-in' })).status, 202);
    await eventually(
      async () =>
        (await p.request('GET', `/users/${user}/notifications/unread-count`, user)).body.unread === 2
          ? true
          : undefined,
      {
        what: 'both notifications buffered',
      },
    );

    const client = await AppClient.open(p.wsPort, { token: await p.token(user) });
    clients.push(client);
    const ok = client.authOk();
    assert.equal(ok.pending, 1, 'the held like is not counted as replayable now');
    assert.equal(ok.unread, 2, 'but it is unread');
    assert.equal(client.client.unread?.count, 2, 'the app shows 2 unread');
    // The client says when the replay is over.
    assert.equal((await client.resume()).recovered, true);
    // Its resume point stays below the held like (seq 1), though the replay carried seq 2.
    assert.equal(client.client.lastSeq, ok.seq, 'resumes from AUTH_OK seq, not past the held like');
    assert.ok(Date.now() < endsAt, 'still inside the window');
    assert.deepEqual(
      client.notifications.map((n) => n.type),
      ['SECURITY'],
    );

    const like = await eventually(() => client.notifications.find((n) => n.type === 'LIKE'), {
      what: 'the held like after the window',
    });
    assert.ok(Date.now() >= endsAt - 1000, 'the like came when the window ended');
    assert.equal(like.message, 'Ada liked your post');
    // AUTH_OK's seq (what a whole replay vouches for) stays below the like it held back.
    assert.equal(typeof ok.seq, 'number');
    assert.ok(ok.seq! < like.seq, `AUTH_OK seq ${ok.seq} is below the held like's ${like.seq}`);

    // After the window a new session (a page load without a saved lastSeq) replays the like
    // too: it was not acked.
    await client.close();
    const again = await AppClient.open(p.wsPort, { token: await p.token(user) });
    clients.push(again);
    const replayed = await again.waitForNotifications(2);
    assert.deepEqual(new Set(replayed.map((n) => n.type)), new Set(['SECURITY', 'LIKE']));
  });
});

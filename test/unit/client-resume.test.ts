import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResumeTracker } from '../../client/resume.js';
import { notificationBody, scriptedClient, scriptedSocket } from '../helpers/scripted-socket.js';
import { eventually } from '../helpers/wait.js';

/** The resume point never skips a seq the client did not receive (client/resume.ts). */
describe('client: resume point around lost wakes', () => {
  const authOk = (pending: number, recovered: boolean, catchingUp = false, seq?: number) =>
    ({ type: 'AUTH_OK', userId: 'u', pending, recovered, catchingUp, ...(seq === undefined ? {} : { seq }) }) as const;

  it('during a MongoDB catch-up, moves past Redis replay only over consecutive live seqs', () => {
    const r = new ResumeTracker(10);
    r.authenticated(authOk(1, false, true));
    r.notification(11); // Redis's replay: complete by itself
    r.notification(13); // live, while 12's wake was lost
    r.notification(3); // MongoDB's older notification
    assert.deepEqual(r.replayDone({ type: 'REPLAY_DONE', pending: 3, recovered: true }), {
      recovered: true,
      replayed: 3,
      pending: 3,
    });
    assert.equal(r.lastSeq, 11, 'a resume now must still replay 12');
    r.notification(12); // a resync sends it
    assert.equal(r.lastSeq, 13, 'the gap filled: 13 was received before');
  });

  it("after a catch-up, starts from REPLAY_DONE's seq (below what MongoDB held back), not AUTH_OK's", () => {
    const r = new ResumeTracker(undefined);
    r.authenticated(authOk(0, false, true, 9));
    r.notification(8); // MongoDB's; a like with seq 7 is held back by do-not-disturb
    r.replayDone({ type: 'REPLAY_DONE', pending: 1, recovered: true, seq: 6 });
    assert.equal(r.lastSeq, 6, 'the held 7 is replayed on the next resume');
    r.notification(10); // live: 7 to 9 are not all in hand
    assert.equal(r.lastSeq, 6);
  });

  it('takes consecutive live seqs of a catch-up', () => {
    const r = new ResumeTracker(10);
    r.authenticated(authOk(1, false, true));
    r.notification(11);
    r.notification(12);
    r.notification(13);
    r.replayDone({ type: 'REPLAY_DONE', pending: 3, recovered: true });
    assert.equal(r.lastSeq, 13);
  });

  it("starts from AUTH_OK's seq after a whole replay, then moves over consecutive live seqs only", () => {
    const r = new ResumeTracker(undefined);
    assert.deepEqual(r.authenticated(authOk(0, true, false, 18)), { recovered: true, replayed: 0, pending: 0 });
    assert.equal(r.lastSeq, 18, 'nothing up to 18 is missing');
    r.notification(20); // 19's wake was lost
    assert.equal(r.lastSeq, 18);
    r.notification(19);
    assert.equal(r.lastSeq, 20);
    // A replay whose frames stop below AUTH_OK's seq (the rest was acked) still reaches it.
    r.disconnected();
    r.authenticated(authOk(1, true, false, 30));
    r.notification(25);
    assert.equal(r.lastSeq, 30);
    // A replay frame above AUTH_OK's seq (one do-not-disturb holds back lies between) does not
    // carry the point past the held one.
    r.disconnected();
    r.authenticated(authOk(1, true, false, 33));
    r.notification(35);
    assert.equal(r.lastSeq, 33, 'the held 34 is replayed on the next resume');
    // Not after a replay that was not whole.
    r.disconnected();
    r.authenticated(authOk(5, false, false, 40));
    r.notification(31);
    r.quiet();
    assert.equal(r.lastSeq, 33);
  });

  it('sets no point from a first live seq when the first replay carried nothing (a server without seq)', () => {
    const r = new ResumeTracker(undefined);
    r.authenticated(authOk(0, true));
    r.notification(20); // 19's wake may have been lost
    assert.equal(r.lastSeq, undefined, 'resuming without lastSeq replays everything pending');
    // A later recovered replay gives the point.
    r.disconnected();
    r.authenticated(authOk(2, true));
    r.notification(19);
    r.notification(20);
    assert.equal(r.lastSeq, 20);
  });

  it('drops the point at an AUTH_OK with resumeReset and takes the server seq once that replay is whole', () => {
    // The server's Redis lost the user's data: its seqs started again and are all below 40.
    const r = new ResumeTracker(40);
    r.authenticated({ ...authOk(2, true, false, 2), resumeReset: true });
    assert.equal(r.lastSeq, undefined, 'a reconnect now must not send 40 again (nor 2: the replay is not in hand)');
    r.notification(2);
    r.disconnected(); // cut in the middle of the replay
    assert.equal(r.lastSeq, undefined, 'the next AUTH replays everything again');

    r.authenticated({ ...authOk(2, true, false, 2), resumeReset: true });
    r.notification(2);
    assert.deepEqual(r.notification(1), { recovered: true, replayed: 2, pending: 2 });
    assert.equal(r.lastSeq, 2, "the server's seq, below the old point");
    r.notification(3);
    assert.equal(r.lastSeq, 3, 'live seqs move it from there');
  });

  it('the client resumes from the server seq after a resumeReset, not from the saved point', async () => {
    const ws = scriptedSocket();
    const client = scriptedClient(ws, { lastSeq: 40 });
    await eventually(() => ws.sockets[0]?.sent.length === 1 || undefined, { what: 'AUTH sent' });
    const socket = ws.sockets[0]!;
    assert.equal((JSON.parse(socket.sent[0]!) as { lastSeq?: number }).lastSeq, 40);
    socket.deliver({
      type: 'AUTH_OK',
      userId: 'u1',
      pending: 1,
      recovered: true,
      catchingUp: false,
      seq: 1,
      resumeReset: true,
    });
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1) });
    assert.equal(client.lastSeq, 1, 'the saved point moved back to the server seq');
    await client.close();
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AckBatcher } from '../../client/acks.js';
import { NotificationDedupe, UnreadTracker } from '../../client/dedupe.js';
import { ResumeTracker } from '../../client/resume.js';
import { parseServerFrame } from '../../client/frames.js';

describe('client: dedupe and unread versions', () => {
  it('admits an id once, then only a higher version of it (an aggregate that grew)', () => {
    const d = new NotificationDedupe();
    assert.deepEqual(
      [
        d.admit('a', 1),
        d.admit('a', 1),
        d.admit('b', 1),
        d.admit('a', 2),
        d.admit('a', 2),
        d.admit('a', 1),
        d.admit('a', 3),
      ],
      [true, false, true, true, false, false, true],
    );
  });

  it('forgets the least recently changed ids first when full', () => {
    const d = new NotificationDedupe(2);
    d.admit('a', 1);
    d.admit('b', 1);
    d.admit('a', 2); // a is now the newest
    d.admit('c', 1); // evicts b
    assert.equal(d.admit('a', 2), false, 'a is remembered');
    assert.equal(d.admit('b', 1), true, 'b was forgotten');
  });

  it('keeps the unread count with the highest version; equal or older versions change nothing', () => {
    const u = new UnreadTracker();
    assert.equal(u.offer(3, 5), true);
    assert.equal(u.offer(9, 4), false, 'older version from another instance');
    assert.equal(u.offer(7, 5), false, 'same version');
    assert.deepEqual(u.current, { count: 3, version: 5 });
    assert.equal(u.offer(0, 6), true);
    assert.deepEqual(u.current, { count: 0, version: 6 });
  });
});

describe('client: resume point', () => {
  const authOk = (pending: number, recovered: boolean, catchingUp = false) =>
    ({ type: 'AUTH_OK', userId: 'u', pending, recovered, catchingUp }) as const;

  it('moves only when a recovered replay was received whole, then with live notifications', () => {
    const r = new ResumeTracker(undefined);
    assert.equal(r.authenticated(authOk(3, true)), undefined);
    // Priority order: seq 9 (transactional) first; a cut here must not resume after 9.
    r.notification(9);
    r.disconnected();
    assert.equal(r.lastSeq, undefined, 'an interrupted replay does not move the resume point');

    r.authenticated(authOk(3, true));
    r.notification(9);
    r.notification(2);
    assert.deepEqual(r.notification(4), { recovered: true, replayed: 3, pending: 3 });
    assert.equal(r.lastSeq, 9);
    r.notification(10);
    assert.equal(r.lastSeq, 10, 'live notifications move it');
    r.notification(7);
    assert.equal(r.lastSeq, 10, 'never backwards');
  });

  it('stops a live resume point at a gap in the seqs, and moves past it once the gap fills', () => {
    const r = new ResumeTracker(10);
    r.authenticated(authOk(0, true));
    r.notification(11);
    assert.equal(r.lastSeq, 11);
    // 12's wake was lost (a Redis restart): 13 and 14 arrive first.
    r.notification(13);
    r.notification(14);
    assert.equal(r.lastSeq, 11, 'a resume now must still replay 12');
    // The resync re-sends 12: everything up to 14 is in hand.
    r.notification(12);
    assert.equal(r.lastSeq, 14);

    // A gap still open at a disconnect: the next recovered replay settles the point.
    r.notification(16);
    r.disconnected();
    assert.equal(r.lastSeq, 14);
    r.authenticated(authOk(2, true));
    r.notification(15);
    assert.deepEqual(r.notification(16), { recovered: true, replayed: 2, pending: 2 });
    assert.equal(r.lastSeq, 16);
  });

  it('waits for REPLAY_DONE when MongoDB catches up, and never moves after recovered:false', () => {
    const r = new ResumeTracker(5);
    r.authenticated(authOk(1, false, true));
    r.notification(6);
    assert.equal(r.lastSeq, 5);
    assert.deepEqual(r.replayDone({ type: 'REPLAY_DONE', pending: 2, recovered: true }), {
      recovered: true,
      replayed: 1,
      pending: 2,
    });
    assert.equal(r.lastSeq, 6);

    r.authenticated(authOk(900, false));
    assert.equal(r.awaitsQuiet, true);
    r.notification(100);
    assert.deepEqual(r.quiet(), { recovered: false, replayed: 1, pending: 900 });
    r.notification(101);
    assert.equal(r.lastSeq, 6, 'the next replay starts where this one did');
  });

  it('is complete at AUTH_OK when nothing is pending', () => {
    assert.deepEqual(new ResumeTracker(3).authenticated(authOk(0, true)), { recovered: true, replayed: 0, pending: 0 });
  });
});

describe('client: ack batching', () => {
  it('sends one frame per delay of at most maxBatch ids, owes unconfirmed ids across a disconnect, drops NOT_FOUND', async () => {
    const frames: string[][] = [];
    let socketUp = true;
    const acks = new AckBatcher(10, 3, (ids) => (socketUp ? (frames.push(ids), true) : false));
    for (const id of ['a', 'b', 'c', 'd', 'a']) acks.add(id);
    assert.equal(frames.length, 0, 'nothing before AUTH_OK');
    acks.opened();
    assert.deepEqual(frames, [['a', 'b', 'c']], 'what waited goes at AUTH_OK, at most 3 ids');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(frames[1], ['d'], 'the rest one delay later');
    acks.confirmed(['a', 'b']);
    // The socket goes down; its close event comes later. An ack made meanwhile cannot be sent.
    socketUp = false;
    acks.add('e');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(frames.length, 2, 'nothing goes out on a socket that is down');
    acks.closed(); // the close event: c and d were never confirmed
    acks.add('f'); // an ack made while disconnected
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(frames.length, 2, 'nothing is sent until the next AUTH_OK');
    assert.equal(acks.owed, 4, 'c, d (unconfirmed), e (refused by the dead socket) and f are owed');
    socketUp = true;
    acks.opened();
    assert.deepEqual(
      [...frames[2]!].sort(),
      ['c', 'd', 'e'],
      'unconfirmed and unsent ids go after the next AUTH_OK, at most 3 a frame',
    );
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(frames[3], ['f'], 'the rest one delay later');
    acks.confirmed(['f']);
    acks.drop(['c']);
    acks.confirmed(['d', 'e']);
    assert.equal(acks.owed, 0);
    acks.stop();
  });

  it('halves the batch on ACK_BATCH_TOO_LARGE and sends again', () => {
    const frames: string[][] = [];
    const acks = new AckBatcher(1000, 4, (ids) => (frames.push(ids), true));
    acks.opened();
    for (const id of ['a', 'b', 'c', 'd']) acks.add(id);
    acks.flushAll();
    acks.shrink();
    acks.flushAll();
    assert.deepEqual(frames, [
      ['a', 'b', 'c', 'd'],
      ['a', 'b'],
      ['c', 'd'],
    ]);
    acks.stop();
  });
});

describe('client: server frames', () => {
  it('accepts the protocol frames and rejects anything else', () => {
    assert.equal(parseServerFrame('{"type":"PONG"}')?.type, 'PONG');
    for (const seq of ['', ',"seq":0', ',"seq":42'])
      assert.equal(
        parseServerFrame(`{"type":"AUTH_OK","userId":"u","pending":0,"recovered":true,"catchingUp":false${seq}}`)?.type,
        'AUTH_OK',
      );
    assert.equal(
      parseServerFrame('{"type":"NOTIFICATION","notification":{"id":"x","seq":1,"version":1}}')?.type,
      'NOTIFICATION',
    );
    for (const bad of [
      'nope',
      '{"type":"HELLO"}',
      '{"type":"NOTIFICATION","notification":{}}',
      '[]',
      '{"type":"ACKED"}',
      // The resume point would be taken from a seq that is not a whole number.
      '{"type":"AUTH_OK","userId":"u","pending":0,"recovered":true,"catchingUp":false,"seq":"7"}',
      '{"type":"AUTH_OK","userId":"u","pending":0,"recovered":true,"catchingUp":false,"seq":-1}',
      '{"type":"AUTH_OK","userId":"u","pending":0,"recovered":true,"catchingUp":false,"seq":1.5}',
    ]) {
      assert.equal(parseServerFrame(bad), undefined, bad);
    }
    assert.equal(parseServerFrame(new Uint8Array([123, 125])), undefined, 'binary frames are not protocol frames');
  });
});

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AckBatcher } from '../../client/acks.js';
import { ackFrame } from '../../client/frames.js';
import type { NotificationClient } from '../../client/index.js';
import { MAX_NOTIFICATION_ID_LENGTH, type ServerFrame } from '../../shared/protocol/frames.js';
import { notificationBody, scriptedClient, scriptedSocket, type ScriptedSocket } from '../helpers/scripted-socket.js';
import { eventually } from '../helpers/wait.js';

const AUTH_OK = { type: 'AUTH_OK', userId: 'u1', pending: 0, recovered: true, catchingUp: false } as const;

/** A client on a scripted socket that acks every notification it emits, authenticated; closed after the test. */
async function openClient(
  t: TestContext,
  ackDelayMs: number,
  authOk: ServerFrame = AUTH_OK,
): Promise<{ client: NotificationClient; socket: ScriptedSocket; errors: string[] }> {
  const ws = scriptedSocket();
  const client = scriptedClient(ws, { ackDelayMs });
  // Even when an assertion fails: a client left running would keep the test process alive.
  t.after(() => client.close());
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  client.on('notification', (n) => client.ack(n.id));
  const socket = await eventually(() => (ws.sockets[0]?.sent.length === 1 ? ws.sockets[0] : undefined), {
    what: 'AUTH sent',
    timeoutMs: 2000,
  });
  socket.deliver(authOk);
  return { client, socket, errors };
}

/** The ACK frames the client sent, as sent. */
function ackFrames(socket: ScriptedSocket): Array<{ notificationIds: string[]; versions?: Array<number | null> }> {
  return socket.sent
    .map((s) => JSON.parse(s) as { type: string; notificationIds: string[]; versions?: Array<number | null> })
    .filter((f) => f.type === 'ACK')
    .map(({ type: _type, ...ack }) => ack);
}

describe('client: acking a grown aggregate', () => {
  it('acks the new version while the ACK of the old one is in flight; a late ACKED of the old one does not cancel it', () => {
    const frames: string[][] = [];
    const acks = new AckBatcher(1000, 10, (ids) => (frames.push(ids), true));
    acks.opened();
    acks.add('n1'); // version 1
    acks.flushAll();
    acks.add('n1'); // version 2 arrived before version 1's ACKED
    acks.confirmed(['n1']); // version 1's ACKED
    assert.equal(acks.owed, 1, "version 2's ack is still owed");
    acks.flushAll();
    assert.deepEqual(frames, [['n1'], ['n1']], 'the new version gets its own ACK');
    acks.confirmed(['n1']);
    assert.equal(acks.owed, 0);
    acks.stop();
  });

  it('keeps the new version owed when both ACKs are in flight and only the first is answered before a disconnect', () => {
    const frames: string[][] = [];
    const acks = new AckBatcher(1000, 10, (ids) => (frames.push(ids), true));
    acks.opened();
    acks.add('n1');
    acks.flushAll();
    acks.add('n1');
    acks.flushAll();
    acks.confirmed(['n1']); // answers the first frame only
    assert.equal(acks.owed, 1, 'the second ACK is unanswered');
    acks.closed();
    acks.opened();
    assert.deepEqual(frames, [['n1'], ['n1'], ['n1']], 'sent again after the next AUTH_OK');
    acks.confirmed(['n1']);
    assert.equal(acks.owed, 0);
    acks.stop();
  });

  it('sends an ACK for version 2 that arrived between the ACK of version 1 and its ACKED', async (t: TestContext) => {
    const { client, socket } = await openClient(t, 20);
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1, 1) });
    await eventually(() => socket.acks().length === 1 || undefined, { what: 'the ACK of version 1', timeoutMs: 2000 });
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 2, 2) });
    socket.deliver({ type: 'ACKED', ids: ['n1'] }); // the answer to version 1's ACK
    await eventually(() => socket.acks().length === 2 || undefined, {
      what: 'an ACK for version 2',
      timeoutMs: 2000,
    });
    assert.deepEqual(socket.acks(), [['n1'], ['n1']]);
    await client.close();
  });
});

describe('client: acks the server sheds with UNAVAILABLE', () => {
  it('sends them again after a wait that doubles per UNAVAILABLE up to the cap, and from the ack delay again after an ACKED', (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const frames: { at: number; ids: string[] }[] = [];
    const unanswered: string[][] = [];
    const acks = new AckBatcher(10, 10, (ids) => (frames.push({ at: now, ids }), unanswered.push(ids), true), {
      maxDelayMs: 80,
      random: () => 0, // the lowest draw: each wait is exactly half its ceiling
    });
    /** Advances the fake clock 1 ms at a time, the server answering each ACK as it goes out. */
    const run = (ms: number, answer: (ids: string[]) => void) => {
      for (let i = 0; i < ms; i += 1) {
        now += 1;
        t.mock.timers.tick(1);
        for (let ids = unanswered.shift(); ids; ids = unanswered.shift()) answer(ids);
      }
    };
    acks.opened();
    acks.add('a');
    run(300, (ids) => acks.unavailable(ids));
    const gaps = (from: number) => frames.slice(from + 1).map((f, i) => f.at - frames[from + i]!.at);
    assert.equal(frames[0]?.at, 10, 'the first ACK one ack delay after the ack');
    assert.deepEqual(gaps(0).slice(0, 5), [10, 20, 40, 40, 40], 'doubling from the ack delay, then capped');

    // The server recovers: an ACKED resets the wait.
    const before = frames.length;
    run(40, (ids) => acks.confirmed(ids));
    assert.equal(frames.length, before + 1, 'the pending resend went out and was confirmed');
    acks.add('b');
    run(100, (ids) => acks.unavailable(ids));
    const after = frames.slice(before + 1);
    assert.deepEqual(
      after.slice(1, 3).map((f, i) => f.at - after[i]!.at),
      [10, 20],
      'after an ACKED the first resend waits the ack delay again',
    );
    acks.stop();
  });

  it('keeps backing off a shed id while the same frames get other ids ACKED', (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const frames: { at: number; ids: string[] }[] = [];
    const unanswered: string[][] = [];
    const acks = new AckBatcher(10, 10, (ids) => (frames.push({ at: now, ids }), unanswered.push(ids), true), {
      maxDelayMs: 160,
      random: () => 0,
    });
    acks.opened();
    acks.add('stored'); // only MongoDB holds it, and the server sheds its check
    let live = 0;
    for (let ms = 1; ms <= 400; ms += 1) {
      now = ms;
      if (ms % 15 === 0) acks.add(`live-${(live += 1)}`); // a live notification shown and acked
      t.mock.timers.tick(1);
      for (let ids = unanswered.shift(); ids; ids = unanswered.shift()) {
        // As the ws-server answers one ACK frame: ACKED for what Redis holds, then UNAVAILABLE.
        const buffered = ids.filter((id) => id !== 'stored');
        if (buffered.length > 0) acks.confirmed(buffered);
        if (ids.includes('stored')) acks.unavailable(['stored']);
      }
    }
    const resends = frames.filter((f) => f.ids.includes('stored')).map((f) => f.at);
    const gaps = resends.slice(1).map((at, i) => at - resends[i]!);
    assert.deepEqual(gaps.slice(0, 4), [10, 20, 40, 80], `the shed id's resends still double: ${resends.join(' ')}`);
    assert.ok(
      frames.some((f) => f.ids.includes('live-1')),
      'the live acks went out meanwhile',
    );
    acks.stop();
  });

  it('sends a handful of ACK frames, not one per ack delay, to a server answering every ACK with UNAVAILABLE', async (t: TestContext) => {
    const ackDelayMs = 10;
    const { client, socket, errors } = await openClient(t, ackDelayMs);
    const sentAt: number[] = [];
    socket.onSend = (frame) => {
      if (frame.type !== 'ACK') return;
      sentAt.push(Date.now());
      // Answered on a later turn, as a server would, never inside send().
      setImmediate(() =>
        socket.deliver({ type: 'ERROR', code: 'UNAVAILABLE', message: 'shed', ids: frame.notificationIds }),
      );
    };
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1) });
    await eventually(() => sentAt.length > 0 || undefined, { what: 'the first ACK', timeoutMs: 2000 });
    const windowMs = 600;
    await new Promise((resolve) => setTimeout(resolve, windowMs - (Date.now() - sentAt[0]!)));
    const inWindow = sentAt.filter((at) => at - sentAt[0]! <= windowMs);
    // Waits of at least 10, 20, 40, 80, 160, 320 ms: the 7th ACK cannot come before 630 ms.
    // Without the backoff it would be about 60 (one per ack delay).
    assert.ok(inWindow.length <= 6, `${inWindow.length} ACK frames in ${windowMs} ms`);
    assert.ok(inWindow.length >= 3, `still resent (${inWindow.length} ACK frames)`);
    for (let i = 1; i < inWindow.length; i += 1) {
      const gap = inWindow[i]! - inWindow[i - 1]!;
      assert.ok(gap >= ackDelayMs * 2 ** (i - 1) - 2, `wait ${i} was ${gap} ms`);
    }
    assert.ok(errors.every((code) => code === 'UNAVAILABLE') && errors.length > 0, 'reported on error');
    await client.close();
  });
});

describe('client: ack() of an id the server would refuse', () => {
  it('ignores it at once with INVALID_ACK_ID, so the ids acked with it still go out', async (t: TestContext) => {
    const { socket, client, errors } = await openClient(t, 20);
    const tooLong = 'x'.repeat(MAX_NOTIFICATION_ID_LENGTH + 1);
    const longest = 'y'.repeat(MAX_NOTIFICATION_ID_LENGTH);
    client.ack('n1');
    client.ack(tooLong);
    client.ack('');
    client.ack(undefined as unknown as string); // a JavaScript caller
    client.ack(longest);
    assert.deepEqual(errors, ['INVALID_ACK_ID', 'INVALID_ACK_ID', 'INVALID_ACK_ID'], 'reported as ack() is called');
    await eventually(() => socket.acks().length === 1 || undefined, { what: 'the ACK', timeoutMs: 2000 });
    assert.deepEqual(socket.acks(), [['n1', longest]], 'only ids the server accepts are sent');
  });
});

describe('client: the version an ACK names', () => {
  it('names the version it emitted of each id to a server that reads versions, so a late ACK of version 1 cannot settle version 2', async (t: TestContext) => {
    const { client, socket } = await openClient(t, 20, { ...AUTH_OK, ackVersions: true });
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1, 1) });
    await eventually(() => ackFrames(socket).length === 1 || undefined, {
      what: 'the ACK of version 1',
      timeoutMs: 2000,
    });
    // Version 2 arrives before version 1's ACKED, with another notification.
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 2, 2) });
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n2', 3, 4) });
    await eventually(() => ackFrames(socket).length === 2 || undefined, {
      what: 'the ACK of version 2',
      timeoutMs: 2000,
    });
    assert.deepEqual(ackFrames(socket), [
      { notificationIds: ['n1'], versions: [1] },
      { notificationIds: ['n1', 'n2'], versions: [2, 4] },
    ]);
    await client.close();
  });

  it('sends the ids alone to a server whose AUTH_OK does not say it reads versions (one before them refuses the field)', async (t: TestContext) => {
    const { client, socket } = await openClient(t, 20);
    socket.deliver({ type: 'NOTIFICATION', notification: notificationBody('n1', 1, 3) });
    await eventually(() => ackFrames(socket).length === 1 || undefined, { what: 'the ACK', timeoutMs: 2000 });
    assert.deepEqual(ackFrames(socket), [{ notificationIds: ['n1'] }]);
    await client.close();
  });

  it('names null for an id it never emitted (acked from the history API), and the higher version of an id acked twice', () => {
    const frames: Array<{ ids: string[]; versions: Array<number | null> }> = [];
    const acks = new AckBatcher(1000, 10, (ids, versions) => (frames.push({ ids, versions }), true));
    acks.opened();
    acks.add('n1', 1);
    acks.add('from-history');
    acks.add('n1', 2);
    acks.flushAll();
    assert.deepEqual(frames, [{ ids: ['n1', 'from-history'], versions: [2, null] }]);
    acks.stop();
  });

  it('sends a version the server would refuse as null, and no versions when none is known', () => {
    assert.deepEqual(ackFrame(['a', 'b', 'c'], [0, 2 ** 60, 7], true), {
      type: 'ACK',
      notificationIds: ['a', 'b', 'c'],
      versions: [null, null, 7],
    });
    assert.deepEqual(ackFrame(['a'], [null], true), { type: 'ACK', notificationIds: ['a'] });
  });

  it('resends an unanswered ACK after a reconnect with the highest version it named', () => {
    const frames: Array<{ ids: string[]; versions: Array<number | null> }> = [];
    const acks = new AckBatcher(1000, 10, (ids, versions) => (frames.push({ ids, versions }), true));
    acks.opened();
    acks.add('n1', 1);
    acks.flushAll();
    acks.add('n1', 2);
    acks.flushAll();
    acks.add('n1', 1); // queued again with the old version: the one in flight is newer
    acks.closed();
    acks.opened();
    assert.deepEqual(frames.at(-1), { ids: ['n1'], versions: [2] }, 'one ACK, of version 2');
    acks.stop();
  });
});

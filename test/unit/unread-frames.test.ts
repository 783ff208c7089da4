import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Notification } from '../../shared/notification.js';
import { DEFAULT_PREFERENCES, type Preferences } from '../../shared/preferences.js';
import { FrameEncodings } from '../../ws-server/delivery.js';
import { notificationFrame, unreadFrame } from '../../ws-server/protocol.js';
import { holdRule } from '../../ws-server/replay.js';
import { parseWake } from '../../ws-server/wake.js';
import { PermanentError } from '../../shared/errors.js';

const n = (type: string): Notification => ({
  id: `id-${type}`,
  userId: 'u',
  seq: 1,
  type,
  priority: 5,
  actors: ['a'],
  actorCount: 1,
  objectId: null,
  message: 'm',
  createdAt: '2026-01-01T00:00:00.000Z',
  version: 1,
  eventIds: [],
});

describe('unread frames and wake messages', () => {
  it('puts the count and its version next to the nested notification, and in UNREAD', () => {
    const frame = notificationFrame(n('LIKE'), { count: 3, version: 7 });
    assert.equal(frame.type, 'NOTIFICATION');
    assert.deepEqual(
      [(frame as { unread?: number }).unread, (frame as { unreadVersion?: number }).unreadVersion],
      [3, 7],
    );
    assert.ok(!('unread' in notificationFrame(n('LIKE'))), 'no count known, no count sent');
    assert.deepEqual(unreadFrame({ count: 0, version: 9 }), { type: 'UNREAD', count: 0, version: 9 });
  });

  it('encodes a NOTIFICATION frame once per notification version and unread version, not once per socket', () => {
    const frames = new FrameEncodings();
    const like = n('LIKE');
    const first = frames.of(like, { count: 1, version: 4 });
    assert.deepEqual(JSON.parse(first), notificationFrame(like, { count: 1, version: 4 }));
    const original = JSON.stringify;
    let calls = 0;
    JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
      calls += 1;
      return original(...args);
    }) as typeof JSON.stringify;
    try {
      assert.equal(frames.of(like, { count: 1, version: 4 }), first, 'a second socket with the same count');
      assert.equal(calls, 0, 'reused, not serialised again');
      assert.deepEqual(
        JSON.parse(frames.of(like, { count: 2, version: 5 })),
        notificationFrame(like, { count: 2, version: 5 }),
      );
      assert.deepEqual(
        JSON.parse(frames.of({ ...like, version: 2 }, { count: 1, version: 4 })).notification.version,
        2,
      );
      assert.equal(calls, 2, 'another count or another version is another frame');
    } finally {
      JSON.stringify = original;
    }
  });

  it('reads a wake without kind as a notification wake, and an unread kind without ids', () => {
    const buf = (body: unknown) => Buffer.from(JSON.stringify(body));
    assert.deepEqual(parseWake(buf({ userId: 'u', notificationIds: ['x'] })), { userId: 'u', notificationIds: ['x'] });
    assert.deepEqual(parseWake(buf({ kind: 'notifications', userId: 'u', notificationIds: [] })), {
      userId: 'u',
      notificationIds: [],
    });
    assert.deepEqual(parseWake(buf({ kind: 'unread', userId: 'u' })), { kind: 'unread', userId: 'u' });
    for (const bad of [
      { kind: 'other', userId: 'u', notificationIds: [] },
      { userId: 'u' },
      { kind: 'unread' },
      null,
    ]) {
      assert.throws(() => parseWake(buf(bad)), PermanentError, JSON.stringify(bad));
    }
    assert.throws(() => parseWake(Buffer.from('{')), PermanentError);
  });

  it('reads a push wake with its notification and count, and refuses one that is not of its user or malformed', () => {
    const body = n('LIKE');
    assert.deepEqual(
      parseWake(JSON.stringify({ kind: 'push', userId: 'u', notification: body, unread: { count: 2, version: 5 } })),
      {
        kind: 'push',
        userId: 'u',
        notification: body,
        unread: { count: 2, version: 5 },
      },
    );
    assert.deepEqual(parseWake(JSON.stringify({ kind: 'push', userId: 'u', notification: body })), {
      kind: 'push',
      userId: 'u',
      notification: body,
    });
    const bad = [
      { kind: 'push', userId: 'other', notification: body },
      { kind: 'push', userId: 'u' },
      { kind: 'push', userId: 'u', notification: { ...body, version: '1' } },
      { kind: 'push', userId: 'u', notification: { ...body, message: undefined } },
      { kind: 'push', userId: 'u', notification: body, unread: { count: 2 } },
    ];
    for (const wake of bad) assert.throws(() => parseWake(JSON.stringify(wake)), PermanentError, JSON.stringify(wake));
  });
});

describe('do-not-disturb in the replay', () => {
  const at = Date.parse('2026-01-01T12:00:00Z');
  const during: Preferences = {
    ...DEFAULT_PREFERENCES,
    doNotDisturb: { start: '11:00', end: '13:00', timeZone: 'UTC' },
  };

  it('holds social and promotional notifications inside the window, never transactional ones', async () => {
    const hold = holdRule(during, at);
    assert.deepEqual(
      ['LIKE', 'COMMENT', 'PROMO', 'SECURITY', 'ORDER', 'PAYMENT'].map((t) => hold(n(t))),
      [true, true, true, false, false, false],
    );
  });

  it('holds nothing outside the window or without one', async () => {
    assert.equal(holdRule(during, Date.parse('2026-01-01T13:00:00Z'))(n('LIKE')), false);
    assert.equal(holdRule(DEFAULT_PREFERENCES, at)(n('LIKE')), false);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAggregatable as aggregates } from '../../consumer/commit.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { dndEndsAt, DEFAULT_PREFERENCES, doNotDisturbHoldsUntil, preferencesSchema } from '../../shared/preferences.js';

/** The rule over (type, object, actor), as the consumer sees an event. */
function isAggregatable(type: ParsedEvent['type'], objectId: string | null, actorId: string | undefined): boolean {
  const object = objectId === null ? {} : type === 'ORDER' ? { orderId: objectId } : { postId: objectId };
  return aggregates({
    type,
    targetId: 'u',
    eventId: 'e',
    ...object,
    ...(actorId === undefined ? {} : { actorId }),
  } as ParsedEvent);
}

describe('aggregation applies to likes, comments and shares on an object', () => {
  it('folds LIKE, COMMENT, SHARE with an object and an actor', () => {
    for (const type of ['LIKE', 'COMMENT', 'SHARE'] as const)
      assert.equal(isAggregatable(type, 'post1', 'user1'), true);
  });
  it('never folds transactional, follows, mentions, or events without an object', () => {
    assert.equal(isAggregatable('ORDER', 'o1', 'user1'), false);
    assert.equal(isAggregatable('SECURITY', null, undefined), false);
    assert.equal(isAggregatable('FOLLOW', null, 'user1'), false);
    assert.equal(isAggregatable('MENTION', 'post1', 'user1'), false);
    assert.equal(isAggregatable('LIKE', null, 'user1'), false);
  });
});

describe('do-not-disturb clock', () => {
  const at = Date.UTC(2026, 0, 10, 23, 30, 0);
  const dnd = (start: string, end: string, timeZone = 'UTC') => ({
    ...DEFAULT_PREFERENCES,
    doNotDisturb: { start, end, timeZone },
  });
  it('a window spanning midnight ends the next morning', () => {
    assert.equal(dndEndsAt(dnd('22:00', '07:00'), at), Date.UTC(2026, 0, 11, 7, 0, 0));
  });
  it('outside the window nothing is held', () => {
    assert.equal(dndEndsAt(dnd('08:00', '22:00'), at), null);
    assert.equal(dndEndsAt(DEFAULT_PREFERENCES, at), null);
  });
  it('honours the time zone (23:30 UTC is 00:30 in Paris in winter)', () => {
    assert.equal(dndEndsAt(dnd('00:00', '01:00', 'Europe/Paris'), at), Date.UTC(2026, 0, 11, 0, 0, 0));
  });
  it('ends at the local end time across a daylight-saving change, not an hour early or late', () => {
    const berlin = dnd('22:00', '07:00', 'Europe/Berlin');
    // Held at 00:30 CEST on the night clocks go back (03:00 CEST -> 02:00 CET): 07:00 CET.
    assert.equal(dndEndsAt(berlin, Date.UTC(2026, 9, 24, 22, 30)), Date.UTC(2026, 9, 25, 6, 0));
    // Held at 00:30 CET on the night clocks go forward (02:00 CET -> 03:00 CEST): 07:00 CEST.
    assert.equal(dndEndsAt(berlin, Date.UTC(2026, 2, 28, 23, 30)), Date.UTC(2026, 2, 29, 5, 0));
    // An end inside the skipped hour (02:30 in New York): later rather than earlier.
    const gap = dndEndsAt(dnd('22:00', '02:30', 'America/New_York'), Date.UTC(2026, 2, 8, 4, 0));
    assert.ok(gap !== null && gap >= Date.UTC(2026, 2, 8, 7, 0), 'not before 03:00 EDT, when 02:30 has passed');
  });
  it('counts a time zone the runtime does not know (stored around the API) as no window, never throws', () => {
    const mars = dnd('00:00', '23:59', 'Mars/Olympus');
    assert.equal(dndEndsAt(mars, at), null);
    assert.equal(doNotDisturbHoldsUntil(mars, 'LIKE', at), null);
  });
  it('rejects unknown time zones, bad times and muting transactional types', () => {
    assert.ok(
      preferencesSchema.validate({ doNotDisturb: { start: '22:00', end: '07:00', timeZone: 'Mars/Base' } }).error,
    );
    assert.ok(preferencesSchema.validate({ doNotDisturb: { start: '25:00', end: '07:00', timeZone: 'UTC' } }).error);
    assert.ok(preferencesSchema.validate({ mutedTypes: ['SECURITY'] }).error);
    assert.equal(preferencesSchema.validate({ mutedTypes: ['LIKE'] }).error, undefined);
  });
  it('refuses a do-not-disturb window whose end is its start (no window at all), naming the field, not the value', () => {
    for (const [start, end] of [
      ['22:00', '22:00'],
      ['22:00', '22:00:00'],
      ['00:00:00', '00:00'],
    ] as const) {
      const { error } = preferencesSchema.validate({ doNotDisturb: { start, end, timeZone: 'UTC' } });
      assert.ok(error, `${start}-${end} refused`);
      assert.deepEqual(
        error.details.map((d) => d.path.join('.')),
        ['doNotDisturb.end'],
      );
      assert.doesNotMatch(error.details[0]!.message, /\d\d:\d\d/, 'the message does not echo the times');
    }
    assert.equal(
      preferencesSchema.validate({ doNotDisturb: { start: '22:00', end: '22:01', timeZone: 'UTC' } }).error,
      undefined,
    );
  });
});

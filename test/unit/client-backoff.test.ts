import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_INITIAL_DELAY_MS,
  DEFAULT_MAX_DELAY_MS,
  NOW_SPREAD_MS,
  ackRetryDelayMs,
  backoffDelayMs,
  nowDelayMs,
} from '../../client/backoff.js';
import { MAX_AUTH_REFUSALS, closeAction } from '../../client/close-policy.js';

describe('client: a reconnect "at once" (1001, an expired token)', () => {
  it('is spread over [0, min(initialDelayMs, 1 s)], not all at 0', () => {
    assert.equal(
      nowDelayMs({}, () => 0),
      0,
    );
    assert.equal(
      nowDelayMs({}, () => 0.999_999),
      DEFAULT_INITIAL_DELAY_MS - 1,
    );
    assert.equal(
      nowDelayMs({ initialDelayMs: 60_000 }, () => 0.999_999),
      NOW_SPREAD_MS - 1,
    );
    const draws = Array.from({ length: 200 }, () => nowDelayMs({ initialDelayMs: 1000 }));
    assert.ok(new Set(draws).size > 50, 'clients of one instance do not all come back in the same millisecond');
  });
});

describe('client: reconnect backoff with full jitter', () => {
  it('waits between 0 and min(max, initial·2^attempt), whatever the random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 120_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, initialDelayMs, maxDelayMs, r) => {
          const delay = backoffDelayMs(attempt, { initialDelayMs, maxDelayMs }, () => r);
          const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
          return Number.isInteger(delay) && delay >= 0 && delay <= ceiling;
        },
      ),
    );
  });

  it('doubles the window per attempt up to the cap, and the draw spans all of it (full jitter, not ±50 %)', () => {
    const top = () => 0.999_999;
    assert.deepEqual(
      [0, 1, 2, 3, 6, 7, 30].map((a) => backoffDelayMs(a, { initialDelayMs: 500, maxDelayMs: 30_000 }, top)),
      [499, 999, 1999, 3999, 29_999, 29_999, 29_999],
    );
    assert.equal(
      backoffDelayMs(5, {}, () => 0),
      0,
      'a draw of 0 reconnects at once: the window starts at 0',
    );
    assert.equal(backoffDelayMs(0, {}, top), DEFAULT_INITIAL_DELAY_MS - 1);
    assert.equal(backoffDelayMs(99, {}, top), DEFAULT_MAX_DELAY_MS - 1);
    const draws = Array.from({ length: 2000 }, () => backoffDelayMs(4, { initialDelayMs: 100, maxDelayMs: 10_000 }));
    assert.ok(Math.min(...draws) < 1600 * 0.1 && Math.max(...draws) > 1600 * 0.9, 'spread over [0, 1600]');
  });
});

describe('client: the wait before resending acks the server shed', () => {
  it('is in the upper half of min(max, 2·base·2^attempt), so it grows whatever the draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, maxMs, r) => {
          const delay = ackRetryDelayMs(attempt, baseMs, maxMs, () => r);
          const ceiling = Math.max(baseMs, Math.min(maxMs, 2 * baseMs * 2 ** attempt));
          return Number.isInteger(delay) && delay >= Math.floor(ceiling / 2) && delay <= ceiling;
        },
      ),
    );
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((a) => ackRetryDelayMs(a, 50, 5000, () => 0)),
      [50, 100, 200, 400, 2500],
    );
  });
});

describe('client: what a close code means', () => {
  const ctx = { refreshable: false, authRefusals: 1 };
  it('reconnects at once after 1001 and after an expired token it can refresh', () => {
    assert.equal(closeAction(1001, 'server shutting down', ctx), 'now');
    assert.equal(closeAction(4401, 'token expired', { ...ctx, refreshable: true }), 'now');
  });
  it('stops on refused credentials it cannot replace, on protocol mismatches and unknown application codes', () => {
    assert.equal(closeAction(4401, 'token expired', ctx), 'stop', 'a static token stays expired');
    assert.equal(closeAction(4401, 'authentication failed: invalid (signature)', ctx), 'stop');
    assert.equal(closeAction(4403, 'forbidden', { ...ctx, refreshable: true }), 'stop');
    assert.equal(closeAction(1002, '', ctx), 'stop');
    assert.equal(
      closeAction(4401, 'authentication failed: expired', { refreshable: true, authRefusals: MAX_AUTH_REFUSALS }),
      'stop',
      'a getToken that keeps producing refused tokens is given up on',
    );
  });
  it('backs off on transient closes', () => {
    assert.equal(
      closeAction(4401, 'authentication failed: expired', { refreshable: true, authRefusals: 1 }),
      'backoff',
    );
    assert.equal(closeAction(4401, 'authentication timeout', ctx), 'backoff');
    for (const code of [1006, 1008, 1009, 1011, 1012, 1013])
      assert.equal(closeAction(code, '', ctx), 'backoff', String(code));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../producer/http-errors.js';
import { decodeCursor, encodeCursor } from '../../producer/notifications/cursor.js';

const crafted = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('history cursor', () => {
  it('gives back the position it encoded', () => {
    const p = { createdAtMs: Date.parse('2026-12-07T08:00:00Z'), id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' };
    assert.deepEqual(decodeCursor(encodeCursor(p)), p);
  });

  it('refuses with a 400 a crafted time no date can hold (the query would fail: a 500)', () => {
    for (const createdAtMs of [1e20, 8.64e15 + 1, -1e300, -8.64e15 - 1]) {
      assert.throws(
        () => decodeCursor(crafted([createdAtMs, 'x'])),
        (err: unknown) => err instanceof HttpError && err.status === 400,
        String(createdAtMs),
      );
    }
    assert.equal(decodeCursor(crafted([8.64e15, 'x'])).createdAtMs, 8.64e15, 'the last time a Date holds');
  });
});

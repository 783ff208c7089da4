import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markAgeMs } from '../../jobs/persist-sweep.js';
import { parseUnpersistedMark, unpersistedMark } from '../../shared/unpersisted-mark.js';

describe('the unpersisted mark: commit time and version', () => {
  it('reads back what the commit writes', () => {
    assert.equal(unpersistedMark(1_765_000_000_000, 3), '1765000000000:3');
    assert.deepEqual(parseUnpersistedMark('1765000000000:3'), { atMs: 1_765_000_000_000, version: 3 });
  });

  it('reads the marks of earlier releases: a time alone, or 1', () => {
    assert.deepEqual(parseUnpersistedMark('1765000000000'), { atMs: 1_765_000_000_000 });
    assert.deepEqual(parseUnpersistedMark('1'), { atMs: 1 });
  });

  it('names no version for a value that is not one', () => {
    assert.deepEqual(parseUnpersistedMark('1765000000000:x'), { atMs: 1_765_000_000_000 });
    assert.deepEqual(parseUnpersistedMark('1765000000000:0'), { atMs: 1_765_000_000_000 });
    assert.deepEqual(parseUnpersistedMark(':2'), { version: 2 });
  });

  it('ages a versioned mark by its time, as the sweep does', () => {
    const now = 1_765_000_100_000;
    assert.equal(markAgeMs(unpersistedMark(now - 7_000, 2), 1_000, 60, now), 7_000);
  });
});

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { forEachLimited } from '../../shared/each-limited.js';

describe("a few at a time (shared/each-limited.ts forEachLimited: jobs' cap checks, the bench's queries)", () => {
  it('runs every item with at most `limit` in flight', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 4, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(5 + (n % 3));
      running--;
      done.push(n);
    });
    assert.equal(peak, 4);
    assert.deepEqual(
      done.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  it('after a failure starts nothing new, waits for the ones running, then throws the first error', async () => {
    let running = 0;
    const started: number[] = [];
    const failure = forEachLimited([1, 2, 3, 4, 5, 6, 7, 8], 3, async (n) => {
      started.push(n);
      running++;
      try {
        if (n === 2) {
          await sleep(5);
          throw new Error('count timed out');
        }
        await sleep(30);
      } finally {
        running--;
      }
    });
    await assert.rejects(failure, /count timed out/);
    assert.equal(running, 0, 'no query still holding a connection when the batch gives up');
    assert.deepEqual(
      started.sort((a, b) => a - b),
      [1, 2, 3],
      'nothing started after the failure',
    );
  });
});

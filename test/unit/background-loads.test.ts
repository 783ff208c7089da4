import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackgroundLoads, within } from '../../shared/background.js';
import { testLogger } from '../helpers/logger.js';

/** A load the test finishes by hand. */
function gate<T>() {
  let open!: (value: T) => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('background loads: bounded, shared per key, waited on briefly', () => {
  it('runs at most `concurrency` loads at once and starts the next as one finishes', async () => {
    const loads = new BackgroundLoads(testLogger, 2, 10);
    const gates = [gate<number>(), gate<number>(), gate<number>()];
    const started: number[] = [];
    const results = gates.map((g, i) =>
      loads.run(`k${i}`, () => {
        started.push(i);
        return g.promise;
      }),
    );
    assert.deepEqual(started, [0, 1], 'the third waits');
    assert.equal(loads.size, 3);
    gates[0]!.open(0);
    await results[0];
    assert.deepEqual(started, [0, 1, 2]);
    gates[1]!.open(1);
    gates[2]!.open(2);
    assert.deepEqual(await Promise.all(results), [0, 1, 2]);
    assert.equal(loads.size, 0);
  });

  it('gives a second caller of the same key the same load, and a new one after it finished', async () => {
    const loads = new BackgroundLoads(testLogger, 4, 10);
    let calls = 0;
    const g = gate<string>();
    const first = loads.run('user:1', () => ((calls += 1), g.promise));
    const second = loads.run('user:1', () => ((calls += 1), g.promise));
    assert.equal(first, second);
    g.open('done');
    assert.equal(await second, 'done');
    await loads.run('user:1', async () => ((calls += 1), 'again'));
    assert.equal(calls, 2);
  });

  it('refuses past the queue bound, and after close() rejects what was queued', async () => {
    const loads = new BackgroundLoads(testLogger, 1, 1);
    const g = gate<void>();
    const running = loads.run('a', () => g.promise);
    const queued = loads.run('b', async () => undefined);
    assert.equal(
      loads.run('c', async () => undefined),
      undefined,
      'the queue holds one',
    );
    loads.close();
    await assert.rejects(queued!, /closed/);
    assert.equal(
      loads.run('d', async () => undefined),
      undefined,
      'closed',
    );
    g.open();
    await running;
  });

  it('attempt() waits at most its bound, and not at all for a load that had to queue', async () => {
    const loads = new BackgroundLoads(testLogger, 1, 10);
    const slow = gate<string>();
    const t0 = performance.now();
    assert.deepEqual(await loads.attempt('slow', () => slow.promise, 30), { done: false });
    assert.ok(performance.now() - t0 >= 25, 'waited for the running load');
    const t1 = performance.now();
    assert.deepEqual(await loads.attempt('queued', async () => 'x', 1000), { done: false });
    assert.ok(performance.now() - t1 < 500, 'did not sit out the wait behind a busy slot');
    slow.open('late');
    assert.deepEqual(await loads.attempt('fast', async () => 'now', 1000), { done: true, value: 'now' });
  });

  it('within() treats a failed load like a late one', async () => {
    assert.deepEqual(await within(Promise.reject(new Error('mongo down')), 100), { done: false });
    assert.deepEqual(await within(undefined, 100), { done: false });
    assert.deepEqual(await within(Promise.resolve(7), 100), { done: true, value: 7 });
  });
});

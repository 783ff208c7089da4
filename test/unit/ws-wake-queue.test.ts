import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { WakeQueue } from '../../ws-server/wake-queue.js';
import { eventually } from '../helpers/wait.js';

/**
 * Wakes are handled a slice of time at a time (issue #16: one read of the subscriber connection
 * held the event loop for seconds, SIGTERM included), in order, and a queue past its bound stops
 * the reading of the subscriber connection until half of it is handled.
 */

/** A handler that takes `ms` of CPU per wake and records the order. */
function busyHandler(ms: number) {
  const handled: string[] = [];
  const handle = (raw: string) => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // a push to many sockets
    }
    handled.push(raw);
  };
  return { handled, handle };
}

const flow = () => {
  const calls: string[] = [];
  return { calls, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
};

describe('WakeQueue', () => {
  it('hands the event loop back between slices and handles every wake in order', async () => {
    const { handled, handle } = busyHandler(1);
    const queue = new WakeQueue(handle, flow(), 1000, 10);
    for (let i = 0; i < 100; i++) queue.push(`w${i}`);
    assert.equal(handled.length, 0, 'nothing is handled while the read is being parsed');
    await nextTurn();
    await nextTurn();
    assert.ok(
      handled.length > 0 && handled.length < 100,
      `one slice of about 10 ms, not all 100 ms at once (${handled.length})`,
    );
    await eventually(() => handled.length === 100, { what: 'every wake handled' });
    assert.deepEqual(
      handled,
      Array.from({ length: 100 }, (_, i) => `w${i}`),
    );
  });

  it('stops reading the subscriber past its bound and reads again at half of it', async () => {
    const { handled, handle } = busyHandler(0.2);
    const reading = flow();
    const queue = new WakeQueue(handle, reading, 100, 5);
    for (let i = 0; i < 150; i++) queue.push(`w${i}`);
    assert.deepEqual(reading.calls, ['pause'], 'paused once, at 100 queued');
    await eventually(() => reading.calls.length === 2, { what: 'the queue to drop to 50' });
    assert.deepEqual(reading.calls, ['pause', 'resume']);
    assert.ok(queue.size <= 50);
    await eventually(() => handled.length === 150, { what: 'every wake handled' });
  });

  it('close() drops what is queued and takes nothing more', async () => {
    const { handled, handle } = busyHandler(0);
    const queue = new WakeQueue(handle, flow());
    queue.push('a');
    queue.close();
    queue.push('b');
    await nextTurn();
    await nextTurn();
    assert.deepEqual(handled, []);
    assert.equal(queue.size, 0);
  });
});

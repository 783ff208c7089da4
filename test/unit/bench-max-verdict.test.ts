import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keptUpWith } from '../../bench/scenarios/max.js';

/** The `max` scenario's verdict per step (bench/scenarios/max.ts), on the figures of a real run. */
describe('bench max: when a step kept up', () => {
  const healthy = {
    rate: 1750,
    durationSeconds: 30,
    sent: 52_500,
    deliveredPerSecond: 1689,
    backlogAtEnd: 1,
    backlogAfterGrace: 0,
    httpFailed: 0,
  };

  it('counts a step that sent and delivered its rate, and left nothing behind', () => {
    assert.equal(keptUpWith(healthy), true);
  });

  it('does not count a step whose deliveries ran well behind its sends', () => {
    // 2,000/s offered, 1,512 delivered per second: nothing left undelivered once the load ended.
    assert.equal(
      keptUpWith({ ...healthy, rate: 2000, sent: 60_000, deliveredPerSecond: 1512, backlogAtEnd: 64 }),
      false,
    );
  });

  it('allows a short step the latency of its last events', () => {
    // 20 events in 1 s, the last delivered 150 ms after the step: 20 / 1.15 s.
    assert.equal(keptUpWith({ ...healthy, rate: 20, durationSeconds: 1, sent: 20, deliveredPerSecond: 17.4 }), true);
  });

  it('does not count a step the load generator could not feed', () => {
    assert.equal(keptUpWith({ ...healthy, rate: 2500, sent: 0, deliveredPerSecond: 0, backlogAtEnd: 0 }), false);
    assert.equal(keptUpWith({ ...healthy, sent: 40_000 }), false, 'three quarters of the rate sent');
  });

  it('does not count a step that left a backlog or failed requests', () => {
    assert.equal(keptUpWith({ ...healthy, backlogAfterGrace: 1 }), false);
    assert.equal(keptUpWith({ ...healthy, backlogAtEnd: 1750 }), false);
    assert.equal(keptUpWith({ ...healthy, httpFailed: 1 }), false);
  });
});

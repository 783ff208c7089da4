import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CHAOS_DEFAULTS,
  ChaosOptionsError,
  chaosQueueType,
  parseChaosOptions,
  pickScenarios,
} from '../chaos/options.js';
import { parseSuiteOptions, SuiteOptionsError } from '../helpers/faults/options.js';

/** The chaos suite reads its knobs once, in test/chaos/options.ts, and refuses a bad one by name. */
describe('chaos options', () => {
  it('defaults, and the values CHAOS_EVENTS, CHAOS_RATE and CHAOS_SCENARIOS give', () => {
    assert.deepEqual(parseChaosOptions({}), CHAOS_DEFAULTS);
    assert.deepEqual(parseChaosOptions({ CHAOS_EVENTS: '', CHAOS_RATE: '', CHAOS_SCENARIOS: '' }), CHAOS_DEFAULTS);
    assert.deepEqual(parseChaosOptions({ CHAOS_EVENTS: '3600', CHAOS_RATE: '240', CHAOS_SCENARIOS: '2, 5' }), {
      eventsPerScenario: 3600,
      eventsPerSecond: 240,
      scenarios: [2, 5],
    });
    assert.equal(parseChaosOptions({ CHAOS_RATE: '0.5' }).eventsPerSecond, 0.5);
  });

  it('refuses what used to become NaN or 0, naming the variable', () => {
    for (const [env, name] of [
      [{ CHAOS_EVENTS: 'lots' }, 'CHAOS_EVENTS'],
      [{ CHAOS_EVENTS: '10.5' }, 'CHAOS_EVENTS'],
      [{ CHAOS_EVENTS: '0' }, 'CHAOS_EVENTS'],
      [{ CHAOS_RATE: '-3' }, 'CHAOS_RATE'],
      [{ CHAOS_RATE: 'fast' }, 'CHAOS_RATE'],
      [{ CHAOS_SCENARIOS: '2,x' }, 'CHAOS_SCENARIOS'],
      [{ CHAOS_SCENARIOS: '0' }, 'CHAOS_SCENARIOS'],
      [{ CHAOS_SCENARIOS: '1,,2' }, 'CHAOS_SCENARIOS'],
    ] as const) {
      assert.throws(
        () => parseChaosOptions(env),
        (err: unknown) => err instanceof ChaosOptionsError && err.message.startsWith(name),
        JSON.stringify(env),
      );
    }
  });

  it('picks the listed scenarios with their index, and refuses one that does not exist', () => {
    const all = ['a', 'b', 'c'];
    assert.deepEqual(pickScenarios(all, []), [
      [0, 'a'],
      [1, 'b'],
      [2, 'c'],
    ]);
    assert.deepEqual(pickScenarios(all, [3, 1]), [
      [0, 'a'],
      [2, 'c'],
    ]);
    assert.throws(() => pickScenarios(all, [2, 9]), /there are 3 scenarios, no 9/);
  });
});

/** The same knobs for the cluster suite (test/cluster), under its own prefix and defaults. */
describe('fault-suite options under another prefix', () => {
  const defaults = { eventsPerScenario: 2400, eventsPerSecond: 60, scenarios: [] };

  it('reads CLUSTER_* and only those', () => {
    assert.deepEqual(parseSuiteOptions('CLUSTER', { CHAOS_EVENTS: '5', CHAOS_SCENARIOS: '2' }, defaults), defaults);
    assert.deepEqual(
      parseSuiteOptions('CLUSTER', { CLUSTER_EVENTS: '600', CLUSTER_RATE: '20', CLUSTER_SCENARIOS: '1,3' }, defaults),
      {
        eventsPerScenario: 600,
        eventsPerSecond: 20,
        scenarios: [1, 3],
      },
    );
  });

  it("names the suite's own variable when refusing", () => {
    assert.throws(
      () => parseSuiteOptions('CLUSTER', { CLUSTER_RATE: '0' }, defaults),
      (err: unknown) => err instanceof SuiteOptionsError && err.message.startsWith('CLUSTER_RATE'),
    );
    assert.throws(
      () => pickScenarios(['a'], [4], 'CLUSTER_SCENARIOS'),
      /^SuiteOptionsError: CLUSTER_SCENARIOS: there are 1 scenarios, no 4/,
    );
  });
});

describe('chaos queue type', () => {
  it('is classic unless CHAOS_QUEUE_TYPE says quorum, and refuses anything else', () => {
    assert.equal(chaosQueueType({}), 'classic');
    assert.equal(chaosQueueType({ CHAOS_QUEUE_TYPE: '' }), 'classic');
    assert.equal(chaosQueueType({ CHAOS_QUEUE_TYPE: 'quorum' }), 'quorum');
    assert.throws(() => chaosQueueType({ CHAOS_QUEUE_TYPE: 'qourum' }), ChaosOptionsError);
  });
});

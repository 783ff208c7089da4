import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ScenarioRow } from '../helpers/faults/ledger.js';
import { assertLedger } from '../helpers/faults/scenario.js';

/** A scenario of the chaos and cluster suites that ended with every count right. */
const clean: ScenarioRow = {
  scenario: 'SIGKILL consumer',
  accepted: 100,
  delivered: 100,
  duplicateNotifications: 0,
  duplicatesAfterAck: 0,
  redeliveries: 3,
  persisted: 100,
  persistedTwice: 0,
  wrongState: 0,
  pending: 0,
  lost: 0,
  retriedPosts: 2,
  neededReconnect: false,
  problems: [],
};
const noneExited = { exited: () => [] };

/**
 * The fault suites' verdict (test/helpers/faults/scenario.ts): counts that are right only because
 * every client was made to reconnect (the AUTH replay delivered what live pushes no longer did)
 * are a failure, not a pass.
 */
describe('fault-suite ledger verdict', () => {
  it('passes a scenario whose connected clients got everything live', () => {
    assertLedger(clean, noneExited);
  });

  it('fails a scenario that needed the forced reconnect of every client, however right its counts', () => {
    assert.throws(
      () => assertLedger({ ...clean, neededReconnect: true }, noneExited),
      /SIGKILL consumer: connected clients stopped getting live pushes after the fault/,
    );
  });

  it('still fails a service that died first', () => {
    assert.throws(() => assertLedger(clean, { exited: () => ['consumer#0'] }), /no service died on its own/);
  });
});

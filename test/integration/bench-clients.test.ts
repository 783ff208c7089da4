import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ClientFleet } from '../../bench/clients.js';
import { IdleFleet } from '../../bench/idle-fleet.js';
import { Tracker } from '../../bench/tracker.js';
import { ackedAt } from '../../shared/buffer.js';
import { testEnv } from '../helpers/config.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';
import { wsServerSuite } from '../helpers/ws-suite.js';

const { config } = testEnv('benchclients', {
  WS_AUTH_MODE: 'token',
  // Far below the fleet's 25 ms ack delay: the server sends a notification again before its ACK
  // arrives, and the bench must count that redelivery although the client shows it once.
  ACK_TIMEOUT_MS: '1',
});

/**
 * The bench's sockets, now on the project's client (client/), against a real ws-server: what
 * the bench reports must still be what went over the wire, not what the client chose to show.
 */
describe('bench clients on client/', () => {
  const suite = wsServerSuite(config);
  const port = () => suite.server.port;

  it('the live fleet acks through the client, clocks each ACK frame, and counts a redelivery the client hides', async () => {
    const tracker = new Tracker('benchclients');
    const fleet = new ClientFleet(port(), config.auth.jwtSecret, tracker, config.ws.maxAckBatch);
    const frames: string[] = [];
    fleet.onNotification = (userId, id) => frames.push(`${userId}:${id}`);
    try {
      await fleet.connectAll(['bc1', 'bc2']);
      assert.equal(fleet.size, 2);
      assert.equal(fleet.isConnected('bc1'), true);

      const fast = await suite.consumer.make('bc2', { objectId: 'k-fast' });
      tracker.recordAccepted(tracker.recordSent('k-fast', 'bc2', 0));
      await suite.consumer.deliver(fast);
      await eventually(() => tracker.delivered === 1 || undefined, { what: 'delivered' });
      await eventually(async () => ((await ackedAt(suite.consumer.redis, 'bc2', [fast.id]))[0] ? true : undefined), {
        what: 'the ACK recorded by the server',
      });
      const record = tracker.events.get('k-fast')!;
      assert.equal(typeof record.ackedWallMs, 'number', 'the ACK frame was clocked as it left');
      // A repeat that crossed the ACK on the wire is counted as after-ACK (the tracker's clock is
      // the ACK frame leaving); with a 1 ms timeout either kind may happen, and both count.
      const repeats = tracker.redeliveries + tracker.duplicatesAfterAck;
      assert.ok(repeats >= 1, `the repeats were counted (${tracker.redeliveries} + ${tracker.duplicatesAfterAck})`);
      assert.equal(frames.filter((f) => f === `bc2:${fast.id}`).length, repeats + 1, 'onNotification sees every frame');
      assert.equal(tracker.delivered, 1, 'delivered once');
      assert.equal(tracker.lost().length, 0);
      assert.equal(fleet.errors, 0);

      await fleet.disconnectAll();
      assert.equal(fleet.size, 0);
      assert.equal(fleet.closedByServer, 0, 'our own closes are not the server closing sockets');
    } finally {
      await fleet.close();
    }
  });

  it('a refused AUTH is a connect failure with its close code, not a reconnect loop', async () => {
    const fleet = new ClientFleet(
      port(),
      'another-secret-that-is-long-enough-for-hs256-00',
      undefined,
      config.ws.maxAckBatch,
    );
    try {
      const failures = await fleet.connect(['bc3']);
      assert.equal(failures.length, 1);
      assert.match(failures[0]!, /closed before AUTH_OK \(code 4401/);
      assert.equal(fleet.authFailures, 1);
    } finally {
      await fleet.close();
    }
  });

  it('the idle fleet holds authenticated sockets in a child process and closes them', async () => {
    const idle = new IdleFleet(port(), config.auth.jwtSecret);
    try {
      const connected = await idle.connect(['bi1', 'bi2', 'bi3'], 3);
      assert.deepEqual(connected, { authed: 3, failures: 0, firstFailure: null, processes: 1 });
      assert.deepEqual(await idle.count(), { open: 3, closedByServer: 0 });
    } finally {
      await idle.close();
    }
  });

  it('the lean auth-burst process times each AUTH_OK and reports refusals', async () => {
    const script = resolve(ROOT, 'bench/auth-burst-client.ts');
    const run = async (secret: string) => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', script, String(port()), secret, 'bb', '3'],
        { cwd: ROOT },
      );
      return JSON.parse(stdout.trim()) as { latenciesMs: number[]; failures: string[] };
    };
    const ok = await run(config.auth.jwtSecret);
    assert.equal(ok.latenciesMs.length, 3);
    assert.deepEqual(ok.failures, []);
    const refused = await run('another-secret-that-is-long-enough-for-hs256-00');
    assert.equal(refused.latenciesMs.length, 0);
    assert.equal(refused.failures.length, 3);
  });
});

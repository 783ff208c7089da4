import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { deliveredPerSecond, drain, serviceWarnings, type Harness, type ScenarioResult } from '../harness.js';
import { OperationMeter } from '../operations.js';
import { authStages, stagesSince } from '../auth-stages.js';
import { summarize } from '../stats.js';

const WARM_UP_USERS = 20;
const BURST_CLIENT = resolve(import.meta.dirname, '../auth-burst-client.ts');

/** N new users' AUTH from a lean client process (auth-burst-client.ts). */
async function leanBurst(
  h: Harness,
  n: number,
  prefix: string,
): Promise<{ latenciesMs: number[]; failures: string[] }> {
  const args = [
    '--import',
    'tsx',
    BURST_CLIENT,
    String(h.stack.services['ws-server'].port),
    h.stack.jwtSecret,
    prefix,
    String(n),
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { latenciesMs: number[]; failures: string[] };
}

/**
 * N users who never connected before (no unread counter, no replay-clean mark, nothing cached)
 * open their sockets at once: the time from socket open to AUTH_OK on each client. Then one
 * event each, at `--rate`: the time from the producer's 202 to the live push. With
 * `--aged-notifications` it is the issue-14 check: the live path must not notice the database.
 */
export async function authBurst(h: Harness): Promise<ScenarioResult> {
  const { options: o, tracker } = h;
  const n = o.users;
  await h.fleet.prepareTokens(h.stack.userIds);
  const meter = await OperationMeter.start(h);
  h.log(`auth-burst: ${n} new users connect at once from a lean client process`);
  // A few first: a server that has run a while has its AUTH path compiled; a fresh process would
  // measure V8's warm-up instead.
  await leanBurst(h, WARM_UP_USERS, 'warm');
  const lean = await leanBurst(h, n, 'burst');
  const authBefore = await authStages(h.stack.services['ws-server'].port);
  h.log(`auth-burst: ${n} other new users connect at once from the harness's fleet`);
  const start = performance.now();
  const failures = await h.fleet.connect(h.stack.userIds, n);
  const allAuthenticatedMs = performance.now() - start;
  const auth = stagesSince(authBefore, await authStages(h.stack.services['ws-server'].port));

  h.log(`auth-burst: one event each at ${o.rate} events/s`);
  await h.load.run(o.rate, n / o.rate, 0, (i) => i % n);
  await drain(h);
  tracker.closeWindow();
  const { services, operations } = await meter.stop(tracker.delivered);
  return {
    baselineMessages: tracker.accepted,
    throughput: deliveredPerSecond(h),
    result: {
      users: n,
      /** `new WebSocket` → AUTH_OK of N new users, measured in a process that does nothing else. */
      authLatencyMs: summarize(lean.latenciesMs),
      authFailures: lean.failures.length + failures.length,
      firstAuthFailure: lean.failures[0] ?? failures[0] ?? null,
      /** The same for the fleet's N users, measured in the harness (includes the harness's own delays). */
      fleetAuthLatencyMs: summarize(h.fleet.authLatenciesMs),
      allAuthenticatedMs: Math.round(allAuthenticatedMs),
      authStages: auth,
      accepted: tracker.accepted,
      httpFailed: tracker.failed,
      delivered: tracker.delivered,
      lost: tracker.lost().length,
      duplicatesAfterAck: tracker.duplicatesAfterAck,
      latencyMs: tracker.latency(),
      /** From before the bursts to the last delivery: the AUTHs' cost is in it, per event delivered. */
      operations,
      services,
      serviceWarnings: serviceWarnings(h),
      wsClientErrors: { errorFrames: h.fleet.errors, closedByServer: h.fleet.closedByServer },
    },
  };
}

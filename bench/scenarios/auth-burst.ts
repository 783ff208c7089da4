import { deliveredPerSecond, drain, sampler, serviceWarnings, type Harness, type ScenarioResult } from '../harness.js';
import { authStages, stagesSince } from '../auth-stages.js';
import { summarize } from '../stats.js';

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
  const usage = sampler(h);
  const authBefore = await authStages(h.stack.services['ws-server'].port);
  h.log(`auth-burst: ${n} new users connect at once`);
  const start = performance.now();
  const failures = await h.fleet.connect(h.stack.userIds, n);
  const allAuthenticatedMs = performance.now() - start;
  const auth = stagesSince(authBefore, await authStages(h.stack.services['ws-server'].port));

  h.log(`auth-burst: one event each at ${o.rate} events/s`);
  await h.load.run(o.rate, n / o.rate, 0, (i) => i % n);
  await drain(h);
  tracker.closeWindow();
  const services = usage.stop();
  return {
    baselineMessages: tracker.accepted,
    throughput: deliveredPerSecond(h),
    result: {
      users: n,
      authFailures: failures.length,
      firstAuthFailure: failures[0] ?? null,
      /** Socket open → AUTH_OK, measured by each client. */
      authLatencyMs: summarize(h.fleet.authLatenciesMs),
      allAuthenticatedMs: Math.round(allAuthenticatedMs),
      authStages: auth,
      accepted: tracker.accepted,
      httpFailed: tracker.failed,
      delivered: tracker.delivered,
      lost: tracker.lost().length,
      duplicatesAfterAck: tracker.duplicatesAfterAck,
      latencyMs: tracker.latency(),
      services,
      serviceWarnings: serviceWarnings(h),
      wsClientErrors: { errorFrames: h.fleet.errors, closedByServer: h.fleet.closedByServer },
    },
  };
}

import {
  serviceWarnings,
  deliveredPerSecond,
  drain,
  persistenceAndBatching,
  stageBreakdown,
  type Harness,
  warmUp,
  type ScenarioResult,
} from '../harness.js';
import { OperationMeter } from '../operations.js';
import { startProgress } from '../progress.js';

/** A fixed open-loop rate for a fixed time: the latency the pipeline gives at that load. */
export async function steady(h: Harness): Promise<ScenarioResult> {
  const { options: o, tracker } = h;
  h.log(`steady: connecting ${o.users} clients`);
  await h.fleet.connectAll(h.stack.userIds);
  await warmUp(h, o.rate);
  const meter = await OperationMeter.start(h);
  const stopProgress = startProgress(tracker, o.progress);
  h.log(`steady: ${o.rate} events/s for ${o.duration} s`);
  await h.load.run(o.rate, o.duration, 0);
  await drain(h);
  stopProgress();
  tracker.closeWindow();
  const { machineCpuPercent, services, operations } = await meter.stop(tracker.delivered);
  const stages = await stageBreakdown(h);
  const stored = await persistenceAndBatching(h);
  const throughput = deliveredPerSecond(h);
  return {
    baselineMessages: tracker.accepted,
    throughput,
    result: {
      offeredRate: o.rate,
      sent: tracker.sent,
      accepted: tracker.accepted,
      httpFailed: tracker.failed,
      httpFailures: Object.fromEntries(tracker.failures),
      delivered: tracker.delivered,
      lost: tracker.lost().length,
      duplicatesAfterAck: tracker.duplicatesAfterAck,
      redeliveriesBeforeAck: tracker.redeliveries,
      unmatchedNotifications: tracker.unknown,
      deliveredPerSecond: throughput,
      latencyMs: tracker.latency(),
      stages,
      ...stored,
      operations,
      machineCpuPercent,
      services,
      serviceWarnings: serviceWarnings(h),
      wsClientErrors: { errorFrames: h.fleet.errors, closedByServer: h.fleet.closedByServer },
    },
  };
}

import {
  serviceWarnings,
  deliveredPerSecond,
  drain,
  persistenceAndBatching,
  stageBreakdown,
  sleep,
  type Harness,
  warmUp,
  type ScenarioResult,
} from '../harness.js';
import { formatOperations, OperationMeter, operationsBetween, type OperationReport } from '../operations.js';
import { MachineCpu } from '../process-stats.js';
import { startProgress } from '../progress.js';

/** Time a step's last events get to arrive before what is still missing counts as backlog. */
const STEP_GRACE_MS = 2000;
/**
 * Undelivered events allowed when a step's load ends, in seconds of its traffic: what is in
 * flight at a healthy latency. More means the backlog grew during the step, even if the grace
 * period (with the load gone) lets the pipeline catch up.
 */
const MAX_BACKLOG_AT_END_SECONDS = 0.5;
/**
 * Share of the offered rate a step must really have sent, and delivered per second, to count as
 * kept up. Without it a step the load generator could no longer feed (its sends stalled, so
 * nothing of the step was left undelivered) or whose deliveries ran well behind its sends counted
 * as kept up, and the run climbed to ever higher rates until the harness ran out of memory
 * (2026-12-07: "kept up" at 2,000/s with 1,512 delivered per second, then at 2,500/s and above with
 * nothing sent at all).
 */
export const KEPT_UP_SHARE = 0.95;

/** Whether a step kept up with its rate: what it sent, what it delivered, what it left behind. */
export function keptUpWith(step: {
  rate: number;
  durationSeconds: number;
  sent: number;
  deliveredPerSecond: number;
  backlogAtEnd: number;
  backlogAfterGrace: number;
  httpFailed: number;
}): boolean {
  return (
    step.backlogAfterGrace === 0 &&
    step.backlogAtEnd <= step.rate * MAX_BACKLOG_AT_END_SECONDS &&
    step.httpFailed === 0 &&
    step.sent >= step.rate * step.durationSeconds * KEPT_UP_SHARE &&
    // deliveredPerSecond spans the first send to the last delivery: the last events' latency
    // lengthens it by up to the in-flight allowance, which matters only for short steps.
    step.deliveredPerSecond * (step.durationSeconds + MAX_BACKLOG_AT_END_SECONDS) >=
      step.rate * step.durationSeconds * KEPT_UP_SHARE
  );
}

interface Step {
  rate: number;
  deliveredPerSecond: number;
  p50: number | null;
  p99: number | null;
  /** Accepted events of the step undelivered the moment its load ended. */
  backlogAtEnd: number;
  /** Accepted events of the step still undelivered STEP_GRACE_MS after it ended. */
  backlogAfterGrace: number;
  httpFailed: number;
  /** The whole machine's CPU during the step's load, in % of one core (200 = both cores busy). */
  machineCpuPercent: number;
  /** Events the step sent (accepted or not). */
  sent: number;
  /** Kept up (keptUpWith): the rate sent and delivered, nothing left behind after the grace period. */
  keptUp: boolean;
  /** Kept up and p99 within the bound. */
  passed: boolean;
  /** From the step's start to the end of its grace period, per event of the step delivered by then. */
  operations: OperationReport;
}

/**
 * Steps the offered rate up until the pipeline stops keeping up: a backlog the grace period
 * does not absorb, or failed requests. Two answers: the highest rate whose p99 stayed within
 * the bound (the question), and the highest rate sustained at all, whatever its p99.
 */
export async function max(h: Harness): Promise<ScenarioResult> {
  const { options: o, tracker } = h;
  h.log(`max: connecting ${o.users} clients`);
  await h.fleet.connectAll(h.stack.userIds);
  await warmUp(h, o.rate);
  const meter = await OperationMeter.start(h);
  let stepStart = meter.first;
  let rate = o.rate;
  const stopProgress = startProgress(tracker, o.progress, () => `rate ${rate}  `);
  const steps: Step[] = [];
  for (let phase = 0; rate <= o.maxRate; phase++, rate += o.step) {
    h.log(`max: step ${phase + 1}, ${rate} events/s for ${o.duration} s`);
    const failedBefore = tracker.failed;
    const machine = new MachineCpu();
    await h.load.run(rate, o.duration, phase);
    const machineCpuPercent = machine.percent();
    const inPhase = (r: { phase: number }) => r.phase === phase;
    const backlogAtEnd = tracker.lost(inPhase).length;
    await h.load.settle(STEP_GRACE_MS);
    await sleep(STEP_GRACE_MS);
    const latencies = tracker.latency(inPhase);
    const latency = latencies.acceptedToReceived;
    const stepEnd = await meter.mark();
    const operations = operationsBetween(stepStart, stepEnd, latencies.sentToReceived.count, 'event');
    stepStart = stepEnd;
    const step: Step = {
      rate,
      deliveredPerSecond: deliveredPerSecond(h, phase),
      p50: latency.p50,
      p99: latency.p99,
      backlogAtEnd,
      backlogAfterGrace: tracker.lost(inPhase).length,
      httpFailed: tracker.failed - failedBefore,
      sent: [...tracker.events.values()].filter(inPhase).length,
      machineCpuPercent,
      keptUp: false,
      passed: false,
      operations,
    };
    step.keptUp = keptUpWith({ ...step, durationSeconds: o.duration });
    step.passed = step.keptUp && step.p99 !== null && step.p99 <= o.p99BoundMs;
    steps.push(step);
    const verdict = step.passed ? 'pass' : step.keptUp ? `kept up, p99 over ${o.p99BoundMs} ms` : 'FELL BEHIND';
    h.log(
      `max: ${rate}/s → ${verdict} (sent ${step.sent}, delivered ${step.deliveredPerSecond}/s, p99 ${step.p99} ms, machine CPU ${machineCpuPercent} %, backlog at end ${step.backlogAtEnd}, after grace ${step.backlogAfterGrace})`,
    );
    h.log(`max: ${rate}/s ${formatOperations(operations)}`);
    if (!step.keptUp) break;
  }
  await drain(h);
  stopProgress();
  tracker.closeWindow();
  const { machineCpuPercent, services, operations } = await meter.stop(tracker.delivered);
  const stages = await stageBreakdown(h);
  const stored = await persistenceAndBatching(h);
  const best = [...steps].reverse().find((s) => s.passed);
  const sustained = [...steps].reverse().find((s) => s.keptUp);
  return {
    baselineMessages: tracker.accepted,
    throughput: best?.deliveredPerSecond ?? sustained?.deliveredPerSecond ?? 0,
    result: {
      p99BoundMs: o.p99BoundMs,
      bestRate: best?.rate ?? null,
      bestDeliveredPerSecond: best?.deliveredPerSecond ?? null,
      sustainedRate: sustained?.rate ?? null,
      sustainedDeliveredPerSecond: sustained?.deliveredPerSecond ?? null,
      /** What throughputVsBaseline compares: the best step within the bound, else the sustained one. */
      comparedWith: best ? 'best' : sustained ? 'sustained' : 'none',
      steps,
      sent: tracker.sent,
      accepted: tracker.accepted,
      httpFailures: Object.fromEntries(tracker.failures),
      delivered: tracker.delivered,
      lost: tracker.lost().length,
      duplicatesAfterAck: tracker.duplicatesAfterAck,
      redeliveriesBeforeAck: tracker.redeliveries,
      latencyMsAllSteps: tracker.latency(),
      stages,
      ...stored,
      operations,
      machineCpuPercent,
      services,
      serviceWarnings: serviceWarnings(h),
    },
  };
}

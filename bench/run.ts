import { measureBrokerBaseline, type BrokerBaseline } from './baseline.js';
import { ClientFleet } from './clients.js';
import type { Harness, ScenarioRunner } from './harness.js';
import { LoadGenerator } from './load.js';
import type { BenchOptions, Scenario } from './options.js';
import { machine, printSummary, writeReport, type BenchReport, type WrittenFiles } from './report.js';
import { authBurst } from './scenarios/auth-burst.js';
import { connections } from './scenarios/connections.js';
import { fanout } from './scenarios/fanout.js';
import { max } from './scenarios/max.js';
import { reconnectStorm } from './scenarios/reconnect-storm.js';
import { steady } from './scenarios/steady.js';
import { build, ensureInfrastructure, instanceLabel, loadAgedDatabase, startStack, type Stack } from './stack.js';
import { Tracker } from './tracker.js';

const RUNNERS: Record<Scenario, ScenarioRunner> = {
  steady,
  max,
  connections,
  'reconnect-storm': reconnectStorm,
  fanout,
  'auth-burst': authBurst,
};

/** Size of the baseline's messages: about one event body as the producer publishes it. */
const BASELINE_MESSAGE_BYTES = 160;
const BASELINE_MAX_MESSAGES = 200_000;

export interface BenchOutcome {
  report: BenchReport;
  files: WrittenFiles;
}

/** One benchmark run, start to finish: infrastructure, build, stack, scenario, baseline, report. */
export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<BenchOutcome> {
  const startedAt = new Date().toISOString();
  await ensureInfrastructure(log);
  if (options.build) await build(log);
  const stack = await startStack(options, log);
  const tracker = new Tracker(`b${stack.runId}`);
  const fleet = new ClientFleet(
    stack.instances['ws-server'].map((s) => s.port),
    stack.jwtSecret,
    tracker,
    stack.config.ws.maxAckBatch,
  );
  const load = new LoadGenerator(
    stack.services.producer.port,
    tracker,
    stack.userIds,
    options.httpSockets,
    stack.intakeKey,
    options.batch,
  );
  const harness: Harness = { options, stack, tracker, fleet, load, log };
  try {
    const aged =
      options.agedNotifications > 0 ? await loadAgedDatabase(stack.config, options.agedNotifications, log) : undefined;
    const outcome = await RUNNERS[options.scenario](harness);
    let baseline: BrokerBaseline | undefined;
    if (options.baseline && outcome.baselineMessages > 0) {
      const messages = Math.min(BASELINE_MAX_MESSAGES, Math.max(1000, outcome.baselineMessages));
      log(`baseline: confirmed publish + consume of ${messages} messages with amqplib`);
      baseline = await measureBrokerBaseline(
        stack.config.rabbitmq.url,
        `${stack.config.rabbitmq.namePrefix}bench.baseline`,
        messages,
        BASELINE_MESSAGE_BYTES,
      );
    }
    const result = {
      runId: stack.runId,
      ...(options.instances > 1 && {
        instances: options.instances,
        clientsByWsServer: clientsByWsServer(stack, fleet),
      }),
      ...outcome.result,
      ...(baseline && {
        brokerBaseline: baseline,
        throughputVsBaseline:
          outcome.throughput !== undefined
            ? Math.round((outcome.throughput / baseline.messagesPerSecond) * 1000) / 1000
            : null,
      }),
    };
    const report: BenchReport = {
      scenario: options.scenario,
      startedAt,
      machine: machine(),
      ...(aged && { agedDatabase: { notifications: aged.inserted, loadMs: aged.elapsedMs } }),
      options,
      result,
      windows: tracker.windows,
    };
    const agedNote = aged ? ` · aged DB ${aged.inserted} notifications` : '';
    const instancesNote =
      options.instances > 1 ? ` · ${options.instances} ws-server + ${options.instances} consumer processes` : '';
    const subtitle = `${startedAt} · ${report.machine.cores} cores ${report.machine.cpuModel} · rate ${options.rate}/s · ${options.duration} s · ${options.users} users${agedNote}${instancesNote} · load avg ${report.machine.loadAverageAtEnd.join(' ')}`;
    const files = await writeReport(options.outDir, report, subtitle);
    return { report, files };
  } finally {
    await fleet.close();
    load.close();
    await stack.close();
  }
}

/** The users the fleet put on each ws-server process, by its report name (`ws-server#1`...). */
function clientsByWsServer(stack: Stack, fleet: ClientFleet): Record<string, number> {
  const byPort = fleet.usersByPort();
  const list = stack.instances['ws-server'];
  return Object.fromEntries(list.map((s, i) => [instanceLabel('ws-server', i, list.length), byPort[s.port] ?? 0]));
}

export { printSummary };

import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { OperationReport } from './operations.js';
import type { BenchOptions, Scenario } from './options.js';
import { machine, printSummary, type BenchReport, type WrittenFiles } from './report.js';
import { runBench } from './run.js';

/**
 * `--scale 1,2`: the same scenario once per count of ws-server and consumer processes (producer
 * and jobs run once), each on a fresh stack, then the runs side by side. What a second process
 * of each buys is then a number: delivered/s, latency, and the CPU each process spent per event
 * (on a machine with fewer cores than processes, the processes share the same cores).
 */

export interface ScaleRun {
  /** ws-server and consumer processes of the run. */
  instances: number;
  files: WrittenFiles;
  report: BenchReport;
}

/** The figures the side-by-side table compares, one per run. */
export interface ScaleHeadline {
  instances: number;
  /** steady: over the run; max: of the step compared (the best within the p99 bound, else the last sustained). */
  deliveredPerSecond: number | null;
  /** Accepted → received, ms, over the same span. */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  /** max: the highest rate within the p99 bound and the highest kept up with. */
  bestRate?: number | null;
  sustainedRate?: number | null;
  accepted: number | null;
  delivered: number | null;
  lost: number | null;
  duplicatesAfterAck: number | null;
  machineCpuPercent: number | null;
  clientsByWsServer: Record<string, number> | null;
  /** CPU ms per event by process: a service's name is the sum over its processes, `<service>#<n>` each. */
  cpuMsPerEvent: Record<string, number | null>;
  /**
   * The pipeline's own CPU ms per event: the services and the servers they use, without the
   * harness. On a shared machine `cpuMsPerEvent.machine` counts other work too; this does not.
   */
  pipelineCpuMsPerEvent: number | null;
  perEvent: {
    brokerPublishes: number | null;
    brokerDeliveries: number | null;
    redisRequests: number | null;
    redisCommands: number | null;
    mongoWritesPerNotification: number | null;
  };
  workByInstance: OperationReport['workByInstance'];
}

export interface ScaleReport {
  kind: 'scale';
  scenario: Scenario;
  startedAt: string;
  finishedAt: string;
  machine: ReturnType<typeof machine>;
  options: BenchOptions;
  comparison: ScaleHeadline[];
  /** Each run's whole report, as `npm run bench` without `--scale` writes it. */
  runs: ScaleRun[];
}

/** Runs the scenario once per `options.scale` count, one after the other. */
export async function runScale(
  options: BenchOptions,
  log: (line: string) => void,
): Promise<{ report: ScaleReport; file: string }> {
  const startedAt = new Date().toISOString();
  const runs: ScaleRun[] = [];
  for (const [i, instances] of options.scale.entries()) {
    log(
      `scale: run ${i + 1} of ${options.scale.length}, ${instances} ws-server and ${instances} consumer process${instances > 1 ? 'es' : ''}`,
    );
    // One build serves every run; the broker baseline measures the broker, not the pipeline: once.
    const { report, files } = await runBench(
      { ...options, scale: [], instances, build: options.build && i === 0, baseline: options.baseline && i === 0 },
      log,
    );
    runs.push({ instances, files, report });
  }
  const report: ScaleReport = {
    kind: 'scale',
    scenario: options.scenario,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    options,
    comparison: runs.map((run) => headline(run.instances, run.report)),
    runs,
  };
  await mkdir(options.outDir, { recursive: true });
  const file = resolve(options.outDir, `${options.scenario}-scale-${startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return { report, file };
}

type Latency = { acceptedToReceived?: { p50: number | null; p99: number | null } };
interface MaxStep {
  rate: number;
  deliveredPerSecond: number;
  p50: number | null;
  p99: number | null;
  operations?: OperationReport;
}
/** The fields of steady's and max's results the comparison reads (bench/scenarios/). */
interface ScalableResult {
  accepted?: number;
  delivered?: number;
  lost?: number;
  duplicatesAfterAck?: number;
  machineCpuPercent?: number;
  clientsByWsServer?: Record<string, number>;
  operations?: OperationReport;
  deliveredPerSecond?: number;
  latencyMs?: Latency;
  bestRate?: number | null;
  sustainedRate?: number | null;
  steps?: MaxStep[];
}

export function headline(instances: number, report: BenchReport): ScaleHeadline {
  const r = report.result as ScalableResult;
  let deliveredPerSecond = r.deliveredPerSecond ?? null;
  let p50 = r.latencyMs?.acceptedToReceived?.p50 ?? null;
  let p99 = r.latencyMs?.acceptedToReceived?.p99 ?? null;
  let operations = r.operations;
  const max: Pick<ScaleHeadline, 'bestRate' | 'sustainedRate'> = {};
  if (r.steps) {
    // max: the step it compares is the one throughputVsBaseline uses, with that step's own counts.
    const compared = r.bestRate ?? r.sustainedRate;
    const step = r.steps.find((s) => s.rate === compared);
    deliveredPerSecond = step?.deliveredPerSecond ?? null;
    p50 = step?.p50 ?? null;
    p99 = step?.p99 ?? null;
    operations = step?.operations ?? operations;
    max.bestRate = r.bestRate ?? null;
    max.sustainedRate = r.sustainedRate ?? null;
  }
  const per = operations?.perEvent;
  return {
    instances,
    deliveredPerSecond,
    latencyP50Ms: p50,
    latencyP99Ms: p99,
    ...max,
    accepted: r.accepted ?? null,
    delivered: r.delivered ?? null,
    lost: r.lost ?? null,
    duplicatesAfterAck: r.duplicatesAfterAck ?? null,
    machineCpuPercent: r.machineCpuPercent ?? null,
    clientsByWsServer: r.clientsByWsServer ?? null,
    cpuMsPerEvent: per?.cpuMs ?? {},
    pipelineCpuMsPerEvent: per ? pipelineCpu(per.cpuMs) : null,
    perEvent: {
      brokerPublishes: per?.brokerPublishes ?? null,
      brokerDeliveries: per?.brokerDeliveries ?? null,
      redisRequests: per?.redisRequests ?? null,
      redisCommands: per?.redisCommands ?? null,
      mongoWritesPerNotification: operations?.mongoWritesPerNotification ?? null,
    },
    workByInstance: operations?.workByInstance ?? null,
  };
}

/** Every sampled process but the harness, each service once (its sum, not also its `#n` rows). */
function pipelineCpu(cpuMs: Record<string, number | null>): number | null {
  const parts = Object.entries(cpuMs).filter(
    ([name]) => name !== 'machine' && name !== 'bench-harness' && !/#\d+$/.test(name),
  );
  if (parts.length === 0 || parts.some(([, ms]) => ms === null)) return null;
  return Math.round(parts.reduce((sum, [, ms]) => sum + (ms ?? 0), 0) * 1000) / 1000;
}

/** Order of the CPU rows: the machine, the services each followed by its processes, the servers, the harness. */
const SERVICE_ROWS = ['producer', 'consumer', 'ws-server', 'jobs'];

function cpuRows(runs: ScaleHeadline[]): string[] {
  const names = new Set(runs.flatMap((r) => Object.keys(r.cpuMsPerEvent)));
  const rank = (name: string) => {
    if (name === 'machine') return [0, ''];
    const service = name.replace(/#\d+$/, '');
    const i = SERVICE_ROWS.indexOf(service);
    if (i >= 0) return [1 + i, name];
    return name === 'bench-harness' ? [20, name] : [10, name];
  };
  return [...names].sort((a, b) => {
    const [ra, na] = rank(a);
    const [rb, nb] = rank(b);
    return (ra as number) - (rb as number) || (na as string).localeCompare(nb as string, 'en', { numeric: true });
  });
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '–' : v.toFixed(digits));
const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a && b !== null && b !== undefined ? `×${(b / a).toFixed(2)}` : '–';

/** The side-by-side table: one column per run. */
export function printScale(report: ScaleReport, write: (line: string) => void): void {
  const runs = report.comparison;
  const o = report.options;
  const m = report.machine;
  const labelWidth = 36;
  const colWidth = 18;
  const row = (label: string, values: string[]) =>
    write(`${label.padEnd(labelWidth)}${values.map((v) => v.padStart(colWidth)).join('')}`);
  const each = (f: (r: ScaleHeadline) => string) => runs.map(f);
  const load =
    o.scenario === 'max'
      ? `from ${o.rate}/s by ${o.step}/s steps of ${o.duration} s`
      : `${o.rate} events/s for ${o.duration} s`;
  write('');
  write(
    `=== scale: ${o.scenario}, ${load}, ${o.users} users — ${m.cores} cores, ${m.cpuModel}, load avg at end ${m.loadAverageAtEnd.join(' ')}`,
  );
  row(
    'ws-server + consumer processes',
    each((r) => `${r.instances} + ${r.instances}`),
  );
  row(
    'delivered/s',
    each((r) => fmt(r.deliveredPerSecond)),
  );
  if (o.scenario === 'max') {
    row(
      `best rate (p99 ≤ ${o.p99BoundMs} ms) / sustained`,
      each((r) => `${fmt(r.bestRate)} / ${fmt(r.sustainedRate)}`),
    );
  }
  row(
    'latency p50 / p99 (ms)',
    each((r) => `${fmt(r.latencyP50Ms, 1)} / ${fmt(r.latencyP99Ms, 1)}`),
  );
  row(
    'accepted / delivered',
    each((r) => `${fmt(r.accepted)} / ${fmt(r.delivered)}`),
  );
  row(
    'lost / duplicates after ACK',
    each((r) => `${fmt(r.lost)} / ${fmt(r.duplicatesAfterAck)}`),
  );
  row(
    'machine CPU (% of one core)',
    each((r) => fmt(r.machineCpuPercent)),
  );
  row(
    'per event: broker publishes / deliv.',
    each((r) => `${fmt(r.perEvent.brokerPublishes, 2)} / ${fmt(r.perEvent.brokerDeliveries, 2)}`),
  );
  row(
    'per event: Redis requests / commands',
    each((r) => `${fmt(r.perEvent.redisRequests, 2)} / ${fmt(r.perEvent.redisCommands, 2)}`),
  );
  row(
    'MongoDB writes per notification',
    each((r) => fmt(r.perEvent.mongoWritesPerNotification, 4)),
  );
  write('CPU ms per event (service = all its processes)');
  for (const name of cpuRows(runs)) {
    const indent = /#\d+$/.test(name) ? '    ' : '  ';
    row(
      `${indent}${name}`,
      each((r) => fmt(r.cpuMsPerEvent[name], 3)),
    );
    // Next to the machine's figure, which on a shared machine holds other work too.
    if (name === 'machine')
      row(
        '  pipeline (all but the harness)',
        each((r) => fmt(r.pipelineCpuMsPerEvent, 3)),
      );
  }
  const workLabels = [...new Set(runs.flatMap((r) => Object.keys(r.workByInstance ?? {})))].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  if (workLabels.length > 0) {
    write('work by process in the span (share of its service)');
    const counters = [
      ...new Set(runs.flatMap((r) => Object.values(r.workByInstance ?? {}).flatMap((c) => Object.keys(c)))),
    ];
    for (const label of workLabels) {
      for (const counter of counters) {
        if (!runs.some((r) => (r.workByInstance?.[label]?.[counter]?.count ?? 0) > 0)) continue;
        row(
          `  ${label} ${counter}`,
          each((r) => {
            const w = r.workByInstance?.[label]?.[counter];
            return w ? `${w.count}${w.share !== null && w.share < 1 ? ` (${Math.round(w.share * 100)} %)` : ''}` : '–';
          }),
        );
      }
    }
  }
  const first = runs[0];
  const last = runs[runs.length - 1];
  if (first && last && first !== last) {
    write(
      `${last.instances} vs ${first.instances}: delivered/s ${ratio(first.deliveredPerSecond, last.deliveredPerSecond)}, ` +
        `p99 ${ratio(first.latencyP99Ms, last.latencyP99Ms)}, pipeline CPU ms per event ${ratio(first.pipelineCpuMsPerEvent, last.pipelineCpuMsPerEvent)}, ` +
        `ws-server CPU ms per event ${ratio(first.cpuMsPerEvent['ws-server'], last.cpuMsPerEvent['ws-server'])}, ` +
        `consumer ${ratio(first.cpuMsPerEvent.consumer, last.cpuMsPerEvent.consumer)}`,
    );
  }
}

/** Each run's own summary (as without `--scale`), then the table. */
export function printScaleSummary(report: ScaleReport, write: (line: string) => void): void {
  for (const run of report.runs) {
    write('');
    write(`--- ${run.instances} ws-server + ${run.instances} consumer process${run.instances > 1 ? 'es' : ''}`);
    printSummary(run.report, write);
  }
  printScale(report, write);
}

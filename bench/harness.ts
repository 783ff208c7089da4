import type { ClientFleet } from './clients.js';
import type { LoadGenerator } from './load.js';
import type { BenchOptions } from './options.js';
import { waitForPersistence } from './persistence.js';
import { scrapeSum } from './scrape.js';
import type { ServiceName } from '../shared/config.js';
import { stackProcesses, type Stack } from './stack.js';
import type { Tracker } from './tracker.js';

/** Everything a scenario drives: the running stack and the client side. */
export interface Harness {
  options: BenchOptions;
  stack: Stack;
  tracker: Tracker;
  fleet: ClientFleet;
  load: LoadGenerator;
  log: (line: string) => void;
}

export interface ScenarioResult {
  result: object;
  /** Number of messages for the broker baseline, or 0 to skip it (connections). */
  baselineMessages: number;
  /** Pipeline throughput to compare with the baseline, notifications/s. */
  throughput?: number;
}

export type ScenarioRunner = (h: Harness) => Promise<ScenarioResult>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Load at `rate` for `options.warmup` seconds, fully delivered, then forgotten: the services'
 * caches (user names, preferences), connections and JIT are warm before anything is measured.
 */
export async function warmUp(h: Harness, rate: number): Promise<void> {
  if (h.options.warmup <= 0) return;
  h.log(`warm-up: ${rate} events/s for ${h.options.warmup} s (not measured)`);
  await h.load.run(rate, h.options.warmup, -1);
  await drain(h);
  await sleep(500);
  h.tracker.reset();
  afterWarmUp.set(h, await stageCounters(h));
}

/**
 * After the load stops: waits for every answer, then for the deliveries, until the backlog is
 * empty or nothing has arrived for `drainSeconds` (what is still missing then counts as lost).
 */
export async function drain(h: Harness, pending: () => number = () => h.tracker.backlog): Promise<void> {
  await h.load.settle(h.options.drainSeconds * 1000);
  let last = h.tracker.delivered;
  let quietSince = performance.now();
  while (pending() > 0 && performance.now() - quietSince < h.options.drainSeconds * 1000) {
    await sleep(50);
    if (h.tracker.delivered !== last) {
      last = h.tracker.delivered;
      quietSince = performance.now();
    }
  }
}

/** One metric summed over every process of a service (`--instances` runs several). */
export async function scrapeService(
  stack: Pick<Stack, 'instances'>,
  service: ServiceName,
  metric: string,
  labelFilter?: string,
): Promise<number> {
  const sums = await Promise.all(stack.instances[service].map((s) => scrapeSum(s.port, metric, labelFilter)));
  return sums.reduce((a, b) => a + b, 0);
}

export async function bulkWrites(h: Harness): Promise<{ persist: number; acks: number }> {
  return {
    persist: await scrapeService(h.stack, 'jobs', 'jobs_mongo_bulk_writes_total', 'queue="persist"'),
    acks: await scrapeService(h.stack, 'jobs', 'jobs_mongo_bulk_writes_total', 'queue="acks"'),
  };
}

/** Notifications per second over the span from the first send to the last receipt. */
export function deliveredPerSecond(h: Harness, phase?: number): number {
  let first = Infinity;
  let last = 0;
  let count = 0;
  for (const r of h.tracker.events.values()) {
    if (phase !== undefined && r.phase !== phase) continue;
    first = Math.min(first, r.sentAt);
    if (r.receivedAt !== undefined) {
      last = Math.max(last, r.receivedAt);
      count++;
    }
  }
  return count === 0 ? 0 : Math.round((count / (last - first)) * 1000);
}

/**
 * Waits for MongoDB to hold every delivered notification as delivered, then reports ACK →
 * persisted and the bulk writes jobs needed per stored notification (both queues together).
 */
export async function persistenceAndBatching(h: Harness) {
  const o = h.options;
  const timeoutMs = o.persistDelayMs + o.persistWaitSeconds * 1000;
  const persistence = await waitForPersistence(
    h.stack.config.mongo.url,
    h.stack.userIds,
    h.tracker,
    timeoutMs,
    (line) => {
      if (o.progress) h.log(line);
    },
  );
  const writes = await bulkWrites(h);
  const perNotification = persistence.stored
    ? Math.round(((writes.persist + writes.acks) / persistence.stored) * 1000) / 1000
    : null;
  return { persistence, mongoBulkWrites: { ...writes, perNotification } };
}

const STAGE_HISTOGRAMS = {
  meanPublishConfirmMs: ['producer', 'producer_publish_confirm_seconds'],
  meanAcceptedToBufferedMs: ['consumer', 'consumer_buffer_latency_seconds'],
  meanFirstSendToAckMs: ['ws-server', 'ws_ack_latency_seconds'],
} as const;
type StageName = keyof typeof STAGE_HISTOGRAMS;
type StageCounters = Record<StageName, { sum: number; count: number }>;

async function stageCounters(h: Harness): Promise<StageCounters> {
  const entries = await Promise.all(
    Object.entries(STAGE_HISTOGRAMS).map(async ([stage, [service, histogram]]) => {
      // Over every process of the service: the mean is of all their observations.
      const [sum, count] = await Promise.all([
        scrapeService(h.stack, service, `${histogram}_sum`),
        scrapeService(h.stack, service, `${histogram}_count`),
      ]);
      return [stage, { sum, count }] as const;
    }),
  );
  return Object.fromEntries(entries) as StageCounters;
}

/** The histograms as the warm-up left them: the breakdown counts only what came after. */
const afterWarmUp = new WeakMap<Harness, StageCounters>();

/**
 * Where the time went, from the services' own histograms (means since the warm-up ended), and
 * each service's event-loop lag: a lagging loop means the process waited for a CPU, not for I/O.
 */
export async function stageBreakdown(h: Harness) {
  const lag: Record<string, number> = {};
  for (const { label, process } of stackProcesses(h.stack)) {
    lag[label] = Math.round((await scrapeSum(process.port, 'nodejs_eventloop_lag_p99_seconds')) * 1000 * 100) / 100;
  }
  const now = await stageCounters(h);
  const before = afterWarmUp.get(h);
  const means = Object.fromEntries(
    (Object.keys(STAGE_HISTOGRAMS) as StageName[]).map((stage) => {
      const sum = now[stage].sum - (before?.[stage].sum ?? 0);
      const count = now[stage].count - (before?.[stage].count ?? 0);
      return [stage, count > 0 ? Math.round((sum / count) * 1000 * 100) / 100 : null];
    }),
  ) as Record<StageName, number | null>;
  return { ...means, eventLoopLagP99Ms: lag };
}

/** Warnings and errors each service logged during the run, grouped by message (at most 5 each). */
export function serviceWarnings(h: Harness): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const { label: name, process: service } of stackProcesses(h.stack)) {
    const counts: Record<string, number> = {};
    for (const line of service.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: string };
        if ((entry.level ?? 0) < 40) continue;
        const key = `${entry.msg ?? '?'}${entry.err ? `: ${entry.err}` : ''}`.slice(0, 200);
        if (key in counts || Object.keys(counts).length < 5) counts[key] = (counts[key] ?? 0) + 1;
      } catch {
        // not a log line
      }
    }
    if (Object.keys(counts).length > 0) out[name] = counts;
  }
  return out;
}

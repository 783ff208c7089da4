import type { ServiceName } from '../shared/config.js';
import {
  brokerCounterSource,
  brokerDelta,
  type BrokerCounterSource,
  type BrokerCounts,
  type BrokerSnapshot,
} from './broker-counters.js';
import type { Harness } from './harness.js';
import { scrapeService } from './harness.js';
import { infrastructurePids, ProcessSampler, type ProcessUsage, type Target } from './process-stats.js';
import { localPortsOf } from './proc-sockets.js';
import {
  CommandStatsReader,
  countDelta,
  readRequestProbe,
  sumCounts,
  topCounts,
  type CommandStatsSnapshot,
} from './redis-counters.js';
import { scrapeSum } from './scrape.js';
import { stackProcesses, type Stack } from './stack.js';

/**
 * What a measured span cost per event: broker messages, Redis requests and commands, MongoDB
 * writes, and CPU time by process. Every count is read at both ends of the same span the CPU
 * figures cover (after the warm-up to the end of the drain), and each figure is its difference
 * divided by the span's events.
 */

/** Top entries kept of the per-command counts. */
const TOP_COMMANDS = 8;

/** The counters at one instant. A source that could not be read is undefined. */
export interface OperationMark {
  broker?: BrokerSnapshot;
  commandStats?: CommandStatsSnapshot;
  requests?: Record<string, Record<string, number>>;
  jobs?: { bulkWrites: number; inserted: number };
  /** Counters of each ws-server and consumer process, by its report name (WORK_METRICS). */
  work?: Record<string, Record<string, number>>;
  /** Local ports of the services' TCP sockets: which broker connections are the run's. */
  clientPorts: number[];
  cpuMs: Record<string, number>;
  machineBusyMs: number;
  atMs: number;
}

export interface OperationReport {
  /** What one "event" is in this scenario (an event, a replayed notification, a follower's notification, a socket). */
  per: string;
  events: number;
  seconds: number;
  perEvent: {
    brokerPublishes: number | null;
    brokerDeliveries: number | null;
    redisRequests: number | null;
    redisCommands: number | null;
    /** CPU time per event by process, and of the whole machine (every process, all cores). */
    cpuMs: Record<string, number | null>;
  };
  /** jobs' MongoDB write commands per notification it inserted in the span. */
  mongoWritesPerNotification: number | null;
  broker:
    | (BrokerCounts & { perEvent: { redeliveries: number | null; acks: number | null; deadLettered: number | null } })
    | { source: null };
  redis: {
    /** Sent by the run's services (their probes): exact, and only theirs. */
    requests: number | null;
    requestsPerEventByService: Record<string, number | null> | null;
    topRequests: Record<string, number> | null;
    /** Executed by Redis (INFO commandstats): requests plus commands called by scripts, and any other client's. */
    commands: number | null;
    topCommands: Record<string, number> | null;
    /** AOF rewrites Redis did in the span (each a forked child writing the whole dataset); null: not reported. */
    aofRewrites: number | null;
  };
  mongo: { bulkWrites: number | null; inserted: number | null };
  /**
   * Each ws-server's and consumer's work in the span, by process (`ws-server#2` with several):
   * NOTIFICATION frames sent and wakes handled or dropped (ws-server), events processed
   * (consumer), each with its share of the service's total.
   */
  workByInstance: Record<string, Record<string, { count: number; share: number | null }>> | null;
}

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const perEvent = (count: number | null | undefined, events: number) =>
  count === null || count === undefined || events <= 0 ? null : round(count / events);

/**
 * Each ws-server's and consumer's share of the work, from its own /metrics: how evenly the
 * clients (round-robin by user) and the events queue (competing consumers) spread it.
 */
const WORK_METRICS: Partial<Record<ServiceName, Record<string, [metric: string, labelFilter?: string]>>> = {
  'ws-server': {
    notificationsSent: ['ws_notifications_sent_total'],
    wakesHandled: ['ws_wakes_received_total', 'outcome="handled"'],
    wakesDropped: ['ws_wakes_received_total', 'outcome="dropped"'],
  },
  consumer: { eventsProcessed: ['consumer_events_processed_total'] },
};

async function readWork(processes: ReturnType<typeof stackProcesses>): Promise<Record<string, Record<string, number>>> {
  const entries = await Promise.all(
    processes.flatMap(({ service, label, process }) => {
      const metrics = WORK_METRICS[service];
      if (!metrics) return [];
      return [
        Promise.all(
          Object.entries(metrics).map(
            async ([name, [metric, filter]]) => [name, await scrapeSum(process.port, metric, filter)] as const,
          ),
        ).then((counts) => [label, Object.fromEntries(counts)] as const),
      ];
    }),
  );
  return Object.fromEntries(entries);
}

const sumCountMaps = (maps: Record<string, number>[]) => {
  const out: Record<string, number> = {};
  for (const map of maps) for (const [name, n] of Object.entries(map)) out[name] = (out[name] ?? 0) + n;
  return out;
};

/** Reads every counter source of a run; a source that fails is left out of the mark, never fatal. */
class Counters {
  private constructor(
    private readonly h: Harness,
    private readonly broker: BrokerCounterSource | undefined,
    private readonly commandStats: CommandStatsReader,
  ) {}

  static async open(h: Harness): Promise<Counters> {
    const { rabbitmq } = h.stack.config;
    return new Counters(
      h,
      await brokerCounterSource(rabbitmq.url, rabbitmq.namePrefix),
      new CommandStatsReader(h.stack.config.redis.url),
    );
  }

  async read(): Promise<Omit<OperationMark, 'cpuMs' | 'machineBusyMs' | 'atMs'>> {
    const processes = stackProcesses(this.h.stack);
    const clientPorts = [...localPortsOf(processes.map((p) => p.process.proc.pid ?? 0))];
    const settle = <T>(p: Promise<T>) =>
      p.then(
        (v) => v,
        () => undefined,
      );
    const probes = Object.entries(this.h.stack.redisProbeSockets) as [ServiceName, string[]][];
    const [broker, commandStats, requests, jobs, work] = await Promise.all([
      this.broker ? settle(this.broker.read()) : undefined,
      settle(this.commandStats.snapshot()),
      // A service's requests are the sum of its processes' probes.
      settle(
        Promise.all(
          probes.map(
            async ([name, sockets]) =>
              [name, sumCountMaps(await Promise.all(sockets.map((socket) => readRequestProbe(socket))))] as const,
          ),
        ).then((e) => Object.fromEntries(e)),
      ),
      settle(
        Promise.all([
          scrapeService(this.h.stack, 'jobs', 'jobs_mongo_bulk_writes_total'),
          scrapeService(this.h.stack, 'jobs', 'jobs_notifications_persisted_total'),
        ]).then(([bulkWrites, inserted]) => ({ bulkWrites, inserted })),
      ),
      settle(readWork(processes)),
    ]);
    return { broker, commandStats, requests, jobs, work, clientPorts };
  }

  close(): void {
    this.commandStats.close();
  }
}

/** The operation counts and CPU per event between two marks. */
export function operationsBetween(
  from: OperationMark,
  to: OperationMark,
  events: number,
  per: string,
): OperationReport {
  const cpuMs: Record<string, number | null> = {};
  for (const [name, ms] of Object.entries(to.cpuMs)) cpuMs[name] = perEvent(ms - (from.cpuMs[name] ?? 0), events);
  cpuMs.machine = perEvent(to.machineBusyMs - from.machineBusyMs, events);

  const broker =
    from.broker && to.broker
      ? brokerDelta(from.broker, to.broker, new Set([...from.clientPorts, ...to.clientPorts]))
      : undefined;
  const commands =
    from.commandStats && to.commandStats ? CommandStatsReader.delta(from.commandStats, to.commandStats) : undefined;
  let requests: Record<string, number> | undefined;
  let requestsByService: Record<string, number | null> | null = null;
  if (from.requests && to.requests) {
    requests = {};
    requestsByService = {};
    for (const [service, counts] of Object.entries(to.requests)) {
      const delta = countDelta(from.requests[service] ?? {}, counts);
      requestsByService[service] = perEvent(sumCounts(delta), events);
      for (const [name, n] of Object.entries(delta)) requests[name] = (requests[name] ?? 0) + n;
    }
  }
  const jobs =
    from.jobs && to.jobs
      ? { bulkWrites: to.jobs.bulkWrites - from.jobs.bulkWrites, inserted: to.jobs.inserted - from.jobs.inserted }
      : undefined;
  const workByInstance = from.work && to.work ? workShares(from.work, to.work) : null;

  return {
    per,
    events,
    seconds: round((to.atMs - from.atMs) / 1000, 1),
    perEvent: {
      brokerPublishes: perEvent(broker?.publishes, events),
      brokerDeliveries: perEvent(broker?.deliveries, events),
      redisRequests: perEvent(requests && sumCounts(requests), events),
      redisCommands: perEvent(commands && sumCounts(commands), events),
      cpuMs,
    },
    mongoWritesPerNotification: jobs && jobs.inserted > 0 ? round(jobs.bulkWrites / jobs.inserted, 4) : null,
    broker: broker
      ? {
          ...broker,
          perEvent: {
            redeliveries: perEvent(broker.redeliveries, events),
            acks: perEvent(broker.acks, events),
            deadLettered: perEvent(broker.deadLettered, events),
          },
        }
      : { source: null },
    redis: {
      requests: requests ? sumCounts(requests) : null,
      requestsPerEventByService: requestsByService,
      topRequests: requests ? topCounts(requests, TOP_COMMANDS) : null,
      commands: commands ? sumCounts(commands) : null,
      topCommands: commands ? topCounts(commands, TOP_COMMANDS) : null,
      aofRewrites:
        from.commandStats?.aofRewrites != null && to.commandStats?.aofRewrites != null
          ? to.commandStats.aofRewrites - from.commandStats.aofRewrites
          : null,
    },
    mongo: { bulkWrites: jobs?.bulkWrites ?? null, inserted: jobs?.inserted ?? null },
    workByInstance,
  };
}

/** Each process's counts between two marks, and its share of its service's (`ws-server#2` → `ws-server`). */
function workShares(from: Record<string, Record<string, number>>, to: Record<string, Record<string, number>>) {
  const serviceOf = (label: string) => label.replace(/#\d+$/, '');
  const deltas = Object.entries(to).map(([label, counts]) => [label, countDelta(from[label] ?? {}, counts)] as const);
  const totals: Record<string, Record<string, number>> = {};
  for (const [label, counts] of deltas) {
    const total = (totals[serviceOf(label)] ??= {});
    for (const [name, n] of Object.entries(counts)) total[name] = (total[name] ?? 0) + n;
  }
  const out: Record<string, Record<string, { count: number; share: number | null }>> = {};
  for (const [label, counts] of deltas) {
    const total = totals[serviceOf(label)] ?? {};
    // Every counter of the process, zeros included (countDelta leaves them out).
    out[label] = Object.fromEntries(
      Object.keys(to[label] ?? {}).map((name) => {
        const count = counts[name] ?? 0;
        const all = total[name] ?? 0;
        return [name, { count, share: all > 0 ? round(count / all) : null }];
      }),
    );
  }
  return out;
}

/**
 * Each service's processes by pid (the harness started them): under the service's name, the
 * one process or the sum over its instances; with several, each also as `<service>#<n>`.
 */
export function serviceTargets(stack: Pick<Stack, 'instances'>): Record<string, Target> {
  const out: Record<string, Target> = {};
  for (const [service, list] of Object.entries(stack.instances)) {
    const pids = list.map((s) => s.proc.pid ?? 0);
    out[service] = pids.length === 1 ? (pids[0] ?? 0) : { group: pids };
  }
  for (const { label, process } of stackProcesses(stack)) out[label] = process.proc.pid ?? 0;
  return out;
}

/**
 * The measured span of a scenario: counters read at its start, then the processes sampled
 * (bench/process-stats.ts) until stop(), then the counters read again. Reading the broker with
 * rabbitmqctl takes the CLI about half a second of CPU: outside the CPU span at both ends.
 */
export class OperationMeter {
  private constructor(
    private readonly counters: Counters,
    readonly usage: ProcessSampler,
    private readonly start: OperationMark,
  ) {}

  static async start(h: Harness): Promise<OperationMeter> {
    const counters = await Counters.open(h);
    const read = await counters.read();
    const usage = new ProcessSampler({
      ...serviceTargets(h.stack),
      ...infrastructurePids(h.stack.config, h.options.postgresPort),
      'bench-harness': process.pid,
    });
    return new OperationMeter(counters, usage, {
      ...read,
      cpuMs: usage.cpuMs(),
      machineBusyMs: usage.machineBusyMs(),
      atMs: performance.now(),
    });
  }

  /** The span's start. */
  get first(): OperationMark {
    return this.start;
  }

  /** The counters now, for a part of the span (a step of `max`). */
  async mark(): Promise<OperationMark> {
    const cpuMs = this.usage.cpuMs();
    const machineBusyMs = this.usage.machineBusyMs();
    const atMs = performance.now();
    return { ...(await this.counters.read()), cpuMs, machineBusyMs, atMs };
  }

  /** Ends the span: the processes' usage, the machine's CPU, and the operations per event. */
  async stop(
    events: number,
    per = 'event',
  ): Promise<{ services: Record<string, ProcessUsage>; machineCpuPercent: number; operations: OperationReport }> {
    const machineCpuPercent = this.usage.machineCpuPercent();
    const services = this.usage.stop();
    try {
      const end = await this.mark();
      return { services, machineCpuPercent, operations: operationsBetween(this.start, end, events, per) };
    } finally {
      this.counters.close();
    }
  }
}

/** One line of the per-event figures, for the summary and the `max` steps' log. */
export function formatOperations(o: OperationReport): string {
  const n = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? '?' : v.toFixed(digits));
  const cpu = Object.entries(o.perEvent.cpuMs)
    .filter(([name]) => name !== 'machine')
    .map(([name, ms]) => `${name} ${n(ms)}`)
    .join(', ');
  const b = o.broker;
  const others = 'scope' in b && b.otherClientBytes !== null ? `, other clients ${b.otherClientBytes} B` : '';
  const scope =
    'scope' in b
      ? ` (${b.source}: ${b.scope === 'run' ? "the run's queues" : 'whole broker'}${others})`
      : ' (no broker counters)';
  return (
    `per ${o.per} (${o.events} in ${o.seconds} s): broker ${n(o.perEvent.brokerPublishes)} publishes, ${n(o.perEvent.brokerDeliveries)} deliveries${scope}; ` +
    `Redis ${n(o.perEvent.redisRequests)} requests, ${n(o.perEvent.redisCommands)} commands${o.redis.aofRewrites ? `, ${o.redis.aofRewrites} AOF rewrites` : ''}; MongoDB ${n(o.mongoWritesPerNotification, 4)} writes per notification; ` +
    `CPU ms: machine ${n(o.perEvent.cpuMs.machine)} (${cpu})`
  );
}

import { readdirSync, readFileSync } from 'node:fs';
import { listOrEmpty, localPort, pidsListeningOn } from './proc-sockets.js';
import { DEFAULTS } from './options.js';

/** Linux reports CPU time in clock ticks; 100 per second on every mainstream kernel config. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessUsage {
  peakRssMb: number;
  /** Average CPU over the sampled span, in % of one core (200 = both cores of a 2-core box). */
  avgCpuPercent: number;
  peakCpuPercent: number;
}

/**
 * What to sample under one name: a process; a process tree given by its root, for servers
 * that run as many processes (PostgreSQL: a postmaster and one backend per connection); or a
 * group of processes summed, for a service run as several instances (`--instances`).
 */
export type Target = number | { tree: number } | { group: number[] };

/**
 * Sums a reader over a group's processes. A member that exited makes the read fail, as a lone
 * process's does, so the group's last sample stands rather than dropping by that member's share.
 */
function sumGroup(pids: number[], read: (pid: number) => number): number {
  return pids.reduce((sum, pid) => sum + read(pid), 0);
}

function readRssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** Fields after the parenthesised command name (the name may hold spaces): field 3 is [0]. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function readCpuTicks(pid: number): number {
  const fields = statFields(pid);
  // utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * PIDs whose parent is `pid` (a PostgreSQL cluster's backends and workers, Redis's AOF-rewrite
 * child). Read from the kernel's per-thread `children` lists: a few small files, where listing
 * every process's stat twice a second was a visible share of the harness's own CPU. The kernel
 * promises those lists exact only for a stopped process; a child forked or reaped during the
 * read may be missed, which a once-a-second CPU sample shrugs off. Kernels built without them
 * get the full /proc scan.
 */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const tid of listOrEmpty(`/proc/${pid}/task`)) {
    let list: string;
    try {
      list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && tid === String(pid)) return scanChildPids(pid);
      continue; // The thread ended while listing.
    }
    for (const child of list.split(' ')) if (child.trim() !== '') out.push(Number(child));
  }
  return out;
}

function scanChildPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) === pid) out.push(Number(entry));
    } catch {
      // Exited while listing.
    }
  }
  return out;
}

/**
 * Proportional set size: shared pages (PostgreSQL's shared buffers, mapped by every backend)
 * are split among the processes that map them, so the sum over a tree counts them once.
 * Falls back to VmRSS where smaps_rollup is not readable (another user's process, no root).
 */
function readPssKb(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // Not readable: fall through.
  }
  return readRssKb(pid);
}

/** Sums a reader over the live children of a tree's root, skipping those that exit meanwhile. */
function sumChildren(root: number, read: (pid: number) => number): number {
  let sum = 0;
  for (const pid of childPids(root)) {
    try {
      sum += read(pid);
    } catch {
      // Exited since the listing.
    }
  }
  return sum;
}

function targetRssKb(target: Target): number {
  if (typeof target === 'number') return readRssKb(target);
  if ('group' in target) return sumGroup(target.group, readRssKb);
  return readPssKb(target.tree) + sumChildren(target.tree, readPssKb);
}

/**
 * A tree's CPU: the root's own time, plus its reaped children's (cutime, cstime: a backend that
 * exited still counts), plus the live children's. Only direct children: PostgreSQL's are.
 */
function targetCpuTicks(target: Target): number {
  if (typeof target === 'number') return readCpuTicks(target);
  if ('group' in target) return sumGroup(target.group, readCpuTicks);
  const reaped = (fields: string[]) => Number(fields[13]) + Number(fields[14]);
  // A child reaped between reading the root and reading the children would be in neither (for
  // Redis, a whole AOF rewrite): read the root again afterwards, and again if a child was reaped.
  let fields = statFields(target.tree);
  for (let attempt = 0; ; attempt++) {
    const children = sumChildren(target.tree, readCpuTicks);
    const after = statFields(target.tree);
    if (reaped(after) === reaped(fields) || attempt === 2) {
      return Number(after[11]) + Number(after[12]) + reaped(after) + children;
    }
    fields = after;
  }
}

/** Busy and total CPU ticks of the whole machine (all cores), from the first line of /proc/stat. */
function readMachineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** How busy the whole machine was since construction, in % of one core (200 = two cores saturated). */
export class MachineCpu {
  private readonly start = readMachineTicks();
  private readonly cores = Math.max(
    1,
    readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d/.test(l)).length,
  );

  percent(): number {
    const now = readMachineTicks();
    const share = (now.busy - this.start.busy) / Math.max(1, now.total - this.start.total);
    return Math.round(share * this.cores * 1000) / 10;
  }

  /** CPU time all cores spent busy since construction, in ms (every process, the harness's too). */
  busyMs(): number {
    return ((readMachineTicks().busy - this.start.busy) * 1000) / CLOCK_TICKS_PER_SECOND;
  }
}

/** Where the services find the broker and the stores (shared/config.ts's Config has this shape). */
export interface InfrastructureUrls {
  rabbitmq: { url: string };
  redis: { url: string };
  mongo: { url: string };
}

/**
 * The broker and stores the services talk to, found by the port they listen on (see
 * bench/proc-sockets.ts): the processes behind the run's RABBITMQ_URL, REDIS_URL and MONGO_URL,
 * not the first `beam.smp` or `redis-server` on the machine, which may belong to a second set
 * (the chaos suite's, another checkout's). The MongoDB-port process is named by what it is
 * (`ferretdb` or `mongod`); behind FerretDB, PostgreSQL (`--postgres-port`, 5433) is the whole tree
 * of its postmaster: one backend per connection plus workers. A server on another host, or one
 * whose descriptors this user cannot read, is left out.
 */
export function infrastructurePids(
  urls: InfrastructureUrls,
  postgresPort = DEFAULTS.postgresPort,
): Record<string, Target> {
  const ports = {
    rabbitmq: localPort(urls.rabbitmq.url),
    redis: localPort(urls.redis.url),
    mongo: localPort(urls.mongo.url),
  };
  const wanted = [...Object.values(ports), postgresPort].filter((p): p is number => p !== undefined);
  const pids = pidsListeningOn(wanted);
  const found: Record<string, Target> = {};
  const at = (port: number | undefined) => (port === undefined ? undefined : pids.get(port));
  const rabbitmq = at(ports.rabbitmq);
  if (rabbitmq) found.rabbitmq = rabbitmq;
  const redis = at(ports.redis);
  // A tree: the AOF rewrites the run's writes bring about run in a forked child, and are Redis's
  // cost of the run as much as its main thread's.
  if (redis) found.redis = { tree: redis };
  const mongo = at(ports.mongo);
  if (mongo) {
    const comm = readFileSync(`/proc/${mongo}/comm`, 'utf8').trim();
    const name = comm === 'ferretdb' || comm === 'mongod' ? comm : 'mongo';
    found[name] = mongo;
    const postgres = at(postgresPort);
    if (name === 'ferretdb' && postgres) found.postgres = { tree: postgres };
  }
  return found;
}

/**
 * A tree's memory is read every this many samples. It is its PSS (smaps_rollup), which the kernel
 * computes by walking every mapping of every process in the tree: about 10 ms of the harness's CPU
 * (system time) per read of Redis's and PostgreSQL's trees here (19 processes, measured during a
 * 1,500/s run), charged to the harness and so to the machine's CPU per event. A tree's peak under
 * a steady load needs no finer grain; a single process's RSS (VmRSS) costs next to nothing and is
 * read every time.
 */
const MEMORY_EVERY_SAMPLES = 5;

/** Samples CPU and RSS of the service processes from /proc once a second (a tree's PSS every 5 s). */
export class ProcessSampler {
  private readonly state = new Map<
    string,
    { target: Target; peakRssKb: number; firstTicks: number; lastTicks: number; peakCpu: number }
  >();
  private readonly startedAt = performance.now();
  private readonly machine = new MachineCpu();
  private last = performance.now();
  private samples = 0;
  private readonly timer: NodeJS.Timeout;
  /** Set by stop(): what cpuMs() and machineBusyMs() report from then on. */
  private stopped?: { cpuMs: Record<string, number>; machineBusyMs: number };

  constructor(targets: Record<string, Target>) {
    for (const [name, target] of Object.entries(targets)) {
      const ticks = targetCpuTicks(target);
      this.state.set(name, { target, peakRssKb: targetRssKb(target), firstTicks: ticks, lastTicks: ticks, peakCpu: 0 });
    }
    this.timer = setInterval(() => this.sample(), 1000);
  }

  rssMb(name: string): number {
    const s = this.state.get(name);
    return s ? targetRssKb(s.target) / 1024 : 0;
  }

  private sample(lastOne = false): void {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    this.last = now;
    const readMemory = this.samples++ % MEMORY_EVERY_SAMPLES === 0 || lastOne;
    for (const s of this.state.values()) {
      try {
        const tree = typeof s.target === 'object' && 'tree' in s.target;
        if (readMemory || !tree) s.peakRssKb = Math.max(s.peakRssKb, targetRssKb(s.target));
        const ticks = targetCpuTicks(s.target);
        s.peakCpu = Math.max(s.peakCpu, ((ticks - s.lastTicks) / CLOCK_TICKS_PER_SECOND / seconds) * 100);
        s.lastTicks = ticks;
      } catch {
        // The process exited; its last sample stands.
      }
    }
  }

  /** Busy share of the whole machine since the sampler started, in % of one core. */
  machineCpuPercent(): number {
    return this.machine.percent();
  }

  /**
   * CPU time each target used since the sampler started, in ms: read now, or as of stop() once
   * stopped (a target that exited counts what it had used by its last sample).
   */
  cpuMs(): Record<string, number> {
    if (this.stopped) return { ...this.stopped.cpuMs };
    const out: Record<string, number> = {};
    for (const [name, s] of this.state) {
      let ticks = s.lastTicks;
      try {
        ticks = targetCpuTicks(s.target);
      } catch {
        // Exited: its last sample stands.
      }
      out[name] = ((ticks - s.firstTicks) * 1000) / CLOCK_TICKS_PER_SECOND;
    }
    return out;
  }

  /** The whole machine's busy CPU time since the sampler started, in ms (as of stop() once stopped). */
  machineBusyMs(): number {
    return this.stopped ? this.stopped.machineBusyMs : this.machine.busyMs();
  }

  stop(): Record<string, ProcessUsage> {
    clearInterval(this.timer);
    this.sample(true);
    this.stopped ??= {
      cpuMs: Object.fromEntries(
        [...this.state].map(([name, s]) => [name, ((s.lastTicks - s.firstTicks) * 1000) / CLOCK_TICKS_PER_SECOND]),
      ),
      machineBusyMs: this.machine.busyMs(),
    };
    const seconds = (performance.now() - this.startedAt) / 1000;
    const out: Record<string, ProcessUsage> = {};
    for (const [name, s] of this.state) {
      out[name] = {
        peakRssMb: Math.round(s.peakRssKb / 102.4) / 10,
        avgCpuPercent: Math.round(((s.lastTicks - s.firstTicks) / CLOCK_TICKS_PER_SECOND / seconds) * 1000) / 10,
        peakCpuPercent: Math.round(s.peakCpu * 10) / 10,
      };
    }
    return out;
  }
}

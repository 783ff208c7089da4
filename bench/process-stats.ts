import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports CPU time in clock ticks; 100 per second on every mainstream kernel config. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessUsage {
  peakRssMb: number;
  /** Average CPU over the sampled span, in % of one core (200 = both cores of a 2-core box). */
  avgCpuPercent: number;
  peakCpuPercent: number;
}

/**
 * What to sample under one name: a process, or a process tree given by its root, for servers
 * that run as many processes (PostgreSQL: a postmaster and one backend per connection).
 */
export type Target = number | { tree: number };

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

/** PIDs whose parent is `pid`, from /proc (a PostgreSQL cluster's backends and workers). */
function childPids(pid: number): number[] {
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
  return readPssKb(target.tree) + sumChildren(target.tree, readPssKb);
}

/**
 * A tree's CPU: the root's own time, plus its reaped children's (cutime, cstime: a backend that
 * exited still counts), plus the live children's. Only direct children: PostgreSQL's are.
 */
function targetCpuTicks(target: Target): number {
  if (typeof target === 'number') return readCpuTicks(target);
  const fields = statFields(target.tree);
  const own = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return own + sumChildren(target.tree, readCpuTicks);
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
  private readonly cores = Math.max(1, readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length);

  percent(): number {
    const now = readMachineTicks();
    const share = (now.busy - this.start.busy) / Math.max(1, now.total - this.start.total);
    return Math.round(share * this.cores * 1000) / 10;
  }
}

/**
 * The infrastructure processes on this machine, by command name, so the report shows what the
 * broker and the stores cost next to the services (the first match of each; on a machine that
 * runs a second copy, e.g. the chaos suite's or a system PostgreSQL, that may be the other one).
 * PostgreSQL, which FerretDB stores into, is one process per connection plus workers: "postgres"
 * is the whole tree of the first postmaster found (a `postgres` process whose parent is not one).
 */
export function infrastructurePids(): Record<string, Target> {
  const wanted: Record<string, string> = { 'beam.smp': 'rabbitmq', 'redis-server': 'redis', ferretdb: 'ferretdb', mongod: 'mongod' };
  const found: Record<string, Target> = {};
  const comm = (pid: number | string) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const name = comm(entry);
      if (name === 'postgres') {
        if (!('postgres' in found) && comm(statFields(Number(entry))[1]!) !== 'postgres') found.postgres = { tree: Number(entry) };
        continue;
      }
      const as = wanted[name];
      if (as && !(as in found)) found[as] = Number(entry);
    } catch {
      // Exited while listing.
    }
  }
  return found;
}

/** Samples RSS and CPU of the service processes from /proc, once a second. */
export class ProcessSampler {
  private readonly state = new Map<string, { target: Target; peakRssKb: number; firstTicks: number; lastTicks: number; peakCpu: number }>();
  private readonly startedAt = performance.now();
  private readonly machine = new MachineCpu();
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

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

  private sample(): void {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    this.last = now;
    for (const s of this.state.values()) {
      try {
        s.peakRssKb = Math.max(s.peakRssKb, targetRssKb(s.target));
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

  stop(): Record<string, ProcessUsage> {
    clearInterval(this.timer);
    this.sample();
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

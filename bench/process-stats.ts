import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports CPU time in clock ticks; 100 per second on every mainstream kernel config. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessUsage {
  peakRssMb: number;
  /** Average CPU over the sampled span, in % of one core (200 = both cores of a 2-core box). */
  avgCpuPercent: number;
  peakCpuPercent: number;
}

function readRssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

function readCpuTicks(pid: number): number {
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
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
 * runs a second copy, e.g. the chaos suite's, that may be the other one).
 */
export function infrastructurePids(): Record<string, number> {
  const wanted: Record<string, string> = { 'beam.smp': 'rabbitmq', 'redis-server': 'redis', ferretdb: 'ferretdb', mongod: 'mongod' };
  const found: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const name = wanted[comm];
      if (name && !(name in found)) found[name] = Number(entry);
    } catch {
      // Exited while listing.
    }
  }
  return found;
}

/** Samples RSS and CPU of the service processes from /proc, once a second. */
export class ProcessSampler {
  private readonly state = new Map<string, { pid: number; peakRssKb: number; firstTicks: number; lastTicks: number; peakCpu: number }>();
  private readonly startedAt = performance.now();
  private readonly machine = new MachineCpu();
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(pids: Record<string, number>) {
    for (const [name, pid] of Object.entries(pids)) {
      const ticks = readCpuTicks(pid);
      this.state.set(name, { pid, peakRssKb: readRssKb(pid), firstTicks: ticks, lastTicks: ticks, peakCpu: 0 });
    }
    this.timer = setInterval(() => this.sample(), 1000);
  }

  rssMb(name: string): number {
    const s = this.state.get(name);
    return s ? readRssKb(s.pid) / 1024 : 0;
  }

  private sample(): void {
    const now = performance.now();
    const seconds = (now - this.last) / 1000;
    this.last = now;
    for (const s of this.state.values()) {
      try {
        s.peakRssKb = Math.max(s.peakRssKb, readRssKb(s.pid));
        const ticks = readCpuTicks(s.pid);
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

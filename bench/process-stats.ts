import { readFileSync } from 'node:fs';

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

/** Samples RSS and CPU of the service processes from /proc, once a second. */
export class ProcessSampler {
  private readonly state = new Map<string, { pid: number; peakRssKb: number; firstTicks: number; lastTicks: number; peakCpu: number }>();
  private readonly startedAt = performance.now();
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

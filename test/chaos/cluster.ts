import { createWriteStream, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ServiceName } from '../../shared/config.js';
import { startBuilt, type RunningService } from '../helpers/process.js';

/** A process slot: one of the four services, by name; ws-server has two (ws-server#0, #1). */
export type Slot = 'producer' | 'consumer' | 'jobs' | 'ws-server#0' | 'ws-server#1';
export const SLOTS: Slot[] = ['jobs', 'consumer', 'ws-server#0', 'ws-server#1', 'producer'];

function serviceOf(slot: Slot): ServiceName {
  return slot.startsWith('ws-server') ? 'ws-server' : (slot as ServiceName);
}

/**
 * The pipeline as separate built processes (`node dist/start.js`, SERVICE=...), the way it runs
 * in production. Every process listens on an ephemeral port, so a restarted one has a new port:
 * callers always ask for the current one.
 */
export class Cluster {
  private readonly running = new Map<Slot, RunningService>();
  /** Output of processes that were killed, kept for the log-secret scan. */
  private readonly pastOutput: string[] = [];

  private starts = 0;

  /** `logDir`: every process's output also goes to <slot>.<n>.log there, for the post-mortem. */
  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  async startAll(): Promise<void> {
    for (const slot of SLOTS) await this.start(slot);
  }

  async start(slot: Slot): Promise<void> {
    const service = await startBuilt(serviceOf(slot), this.env);
    const file = createWriteStream(resolve(this.logDir, `${slot.replace('#', '')}.${++this.starts}.log`));
    file.write(service.output());
    service.proc.stdout?.pipe(file);
    service.proc.stderr?.pipe(file);
    this.running.set(slot, service);
  }

  /** SIGKILL: no shutdown code runs, exactly like a crashed container. */
  async kill(slot: Slot): Promise<void> {
    const s = this.running.get(slot);
    if (!s) return;
    this.running.delete(slot);
    await s.stop('SIGKILL');
    this.pastOutput.push(s.output());
  }

  /** Slots whose process exited on its own: a service must survive any dependency outage. */
  exited(): string[] {
    return [...this.running].filter(([, s]) => s.proc.exitCode !== null || s.proc.signalCode !== null).map(([slot]) => slot);
  }

  isUp(slot: Slot): boolean {
    return this.running.has(slot);
  }

  port(slot: Slot): number | undefined {
    return this.running.get(slot)?.port;
  }

  wsPorts(): number[] {
    return (['ws-server#0', 'ws-server#1'] as const).flatMap((s) => this.running.get(s)?.port ?? []);
  }

  producerUrl(): string | undefined {
    const port = this.port('producer');
    return port === undefined ? undefined : `http://127.0.0.1:${port}`;
  }

  /** Every line every process of this cluster wrote, including the killed ones. */
  output(): string {
    return [...this.pastOutput, ...[...this.running.values()].map((s) => s.output())].join('\n');
  }

  /** SIGTERM everything; returns the exit code per slot. */
  async stopAll(): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    for (const slot of [...SLOTS].reverse()) {
      const s = this.running.get(slot);
      if (!s) continue;
      codes[slot] = await s.stop('SIGTERM');
      this.pastOutput.push(s.output());
      this.running.delete(slot);
    }
    return codes;
  }
}

import { createWriteStream, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ServiceName } from '../../../shared/config.js';
import { startBuilt, type RunningService } from '../process.js';

/** A process slot: a service and an instance number, `consumer#0`, `ws-server#1`. */
export type Slot = `${ServiceName}#${number}`;

/** How many instances of each service run. */
export type Layout = Record<ServiceName, number>;

/** Start order: what consumes a queue is up before anything publishes to it; the producer last. */
const START_ORDER: ServiceName[] = ['jobs', 'consumer', 'ws-server', 'producer'];

export function serviceOf(slot: Slot): ServiceName {
  return slot.slice(0, slot.indexOf('#')) as ServiceName;
}

/**
 * The pipeline as separate built processes (`node dist/start.js`, SERVICE=...), the way it runs
 * in production, `layout` instances of each service. Every process listens on an ephemeral port,
 * so a restarted one has a new port: callers always ask for the current one.
 */
export class ServiceProcesses {
  private readonly running = new Map<Slot, RunningService>();
  /** Output of processes that were killed, kept for the log-secret scan. */
  private readonly pastOutput: string[] = [];
  readonly slots: Slot[];

  private starts = 0;

  /** `logDir`: every process's output also goes to <slot>.<n>.log there (`ws-server1.3.log`), for the post-mortem. */
  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    layout: Layout,
  ) {
    mkdirSync(logDir, { recursive: true });
    this.slots = START_ORDER.flatMap((service) =>
      Array.from({ length: layout[service] }, (_, i): Slot => `${service}#${i}`),
    );
  }

  /** Every slot, a service's instances side by side (they do not wait for each other). */
  async startAll(): Promise<void> {
    for (const service of START_ORDER)
      await Promise.all(this.slots.filter((s) => serviceOf(s) === service).map((s) => this.start(s)));
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
    return [...this.running]
      .filter(([, s]) => s.proc.exitCode !== null || s.proc.signalCode !== null)
      .map(([slot]) => slot);
  }

  isUp(slot: Slot): boolean {
    return this.running.has(slot);
  }

  port(slot: Slot): number | undefined {
    return this.running.get(slot)?.port;
  }

  /** The ports of a service's live instances. */
  ports(service: ServiceName): number[] {
    return this.slots.filter((s) => serviceOf(s) === service).flatMap((s) => this.running.get(s)?.port ?? []);
  }

  wsPorts(): number[] {
    return this.ports('ws-server');
  }

  /** The first live producer's base URL. */
  producerUrl(): string | undefined {
    const [port] = this.ports('producer');
    return port === undefined ? undefined : `http://127.0.0.1:${port}`;
  }

  /** Every line every process of this set wrote, including the killed ones. */
  output(): string {
    return [...this.pastOutput, ...[...this.running.values()].map((s) => s.output())].join('\n');
  }

  /** SIGTERM everything, in reverse start order; returns the exit code per slot. */
  async stopAll(): Promise<Record<string, number | null>> {
    const codes: Record<string, number | null> = {};
    for (const slot of [...this.slots].reverse()) {
      const s = this.running.get(slot);
      if (!s) continue;
      codes[slot] = await s.stop('SIGTERM');
      this.pastOutput.push(s.output());
      this.running.delete(slot);
    }
    return codes;
  }
}

import http from 'node:http';
import type { Tracker } from './tracker.js';

/**
 * The open-loop load generator: events are sent on a fixed schedule whatever the replies do
 * (a closed loop would slow down with the system and hide its latency). Requests that find
 * every keep-alive socket busy queue in the agent, still stamped with their scheduled send time.
 */
export class LoadGenerator {
  private readonly agent: http.Agent;
  private counter = 0;
  inFlight = 0;

  constructor(
    private readonly producerPort: number,
    private readonly tracker: Tracker,
    private readonly userIds: string[],
    sockets: number,
    /** The producer's intake key; undefined when its intake is open. */
    private readonly intakeKey: string | undefined,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** One LIKE on a post nobody else touches, so no dedupe or aggregation merges two events. */
  private sendOne(phase: number, recipientIndex?: number): void {
    const n = this.counter++;
    const users = this.userIds.length;
    const target = recipientIndex ?? n % users;
    const key = `${this.tracker.runTag}${phase < 0 ? 'w' : ''}-${n}`;
    const targetId = this.userIds[target] ?? 'bu0';
    const actorId = this.userIds[(target + 1 + (n % (users - 1))) % users] ?? 'bu1';
    const body = JSON.stringify({ type: 'LIKE', actorId, targetId, postId: key, eventId: key });
    const record = this.tracker.recordSent(key, targetId, phase);
    this.inFlight++;
    const req = http.request(
      {
        agent: this.agent,
        host: '127.0.0.1',
        port: this.producerPort,
        path: '/events',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...(this.intakeKey === undefined ? {} : { authorization: `ApiKey ${this.intakeKey}` }),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          this.inFlight--;
          if (res.statusCode === 202) this.tracker.recordAccepted(record);
          else this.tracker.recordFailed(record, `http_${res.statusCode}`);
        });
      },
    );
    req.on('error', (err) => {
      this.inFlight--;
      this.tracker.recordFailed(record, err.message);
    });
    req.end(body);
  }

  /** Sends `rate` events/s for `seconds`, resolving when the last one is sent (not answered). */
  async run(rate: number, seconds: number, phase: number, recipients?: (n: number) => number): Promise<void> {
    const total = Math.round(rate * seconds);
    const start = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
        while (sent < due) {
          const n = sent++;
          this.sendOne(phase, recipients ? recipients(n) : n % this.userIds.length);
        }
        if (sent >= total) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 2);
    });
  }

  /** Resolves when every request has its answer, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  close(): void {
    this.agent.destroy();
  }
}

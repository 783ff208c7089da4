import { KeepAliveHttpClient } from './http-client.js';
import type { EventRecord, Tracker } from './tracker.js';

/**
 * The open-loop load generator: events are sent on a fixed schedule whatever the replies do
 * (a closed loop would slow down with the system and hide its latency). Requests that find
 * every keep-alive connection busy queue in the client (bench/http-client.ts), still stamped with
 * their scheduled send time.
 */
export class LoadGenerator {
  private readonly http: KeepAliveHttpClient;
  private readonly headers: string[];
  private counter = 0;
  inFlight = 0;

  constructor(
    producerPort: number,
    private readonly tracker: Tracker,
    private readonly userIds: string[],
    sockets: number,
    /** The producer's intake key; undefined when its intake is open. */
    intakeKey: string | undefined,
    /**
     * Events per request: 1 sends each as its own `POST /events`; more sends them together as one
     * `POST /events/batch`, as a backend with a steady stream of events would.
     */
    private readonly batchSize = 1,
  ) {
    this.http = new KeepAliveHttpClient('127.0.0.1', producerPort, sockets);
    this.headers = [
      'content-type: application/json',
      ...(intakeKey === undefined ? [] : [`authorization: ApiKey ${intakeKey}`]),
    ];
  }

  /** One LIKE on a post nobody else touches, so no dedupe or aggregation merges two events. */
  private nextEvent(phase: number, recipientIndex?: number): { body: object; record: EventRecord } {
    const n = this.counter++;
    const users = this.userIds.length;
    const target = recipientIndex ?? n % users;
    const key = `${this.tracker.runTag}${phase < 0 ? 'w' : ''}-${n}`;
    const targetId = this.userIds[target] ?? 'bu0';
    const actorId = this.userIds[(target + 1 + (n % (users - 1))) % users] ?? 'bu1';
    const body = { type: 'LIKE', actorId, targetId, postId: key, eventId: key };
    return { body, record: this.tracker.recordSent(key, targetId, phase) };
  }

  /**
   * `answered` gets the status, and the body's text when `readBody` asks for it (a batch's
   * per-item results); a single event's answer is drained unread, its status says it all.
   */
  private post(
    path: string,
    body: string,
    readBody: boolean,
    answered: (status: number, text: string) => void,
    failed: (err: Error) => void,
  ): void {
    this.inFlight++;
    this.http.post(path, this.headers, body, (err, answer) => {
      this.inFlight--;
      if (err || !answer) failed(err ?? new Error('no answer'));
      else answered(answer.status, readBody ? answer.body.toString('utf8') : '');
    });
  }

  private sendOne(phase: number, recipientIndex?: number): void {
    const { body, record } = this.nextEvent(phase, recipientIndex);
    this.post(
      '/events',
      JSON.stringify(body),
      false,
      (status) => {
        if (status === 202) this.tracker.recordAccepted(record);
        else this.tracker.recordFailed(record, `http_${status}`);
      },
      (err) => this.tracker.recordFailed(record, err.message),
    );
  }

  /**
   * `POST /events/batch`: each event counts as accepted only if its own result says so. Its send
   * time is the request's: an event waits up to N / rate for its batch to fill, and that wait is
   * in no latency figure (accepted → received starts at the answer anyway).
   */
  private sendBatch(phase: number, recipientIndexes: number[]): void {
    const events = recipientIndexes.map((i) => this.nextEvent(phase, i));
    this.post(
      '/events/batch',
      JSON.stringify({ events: events.map((e) => e.body) }),
      true,
      (status, text) => {
        let results: { index: number; status: string; error?: string }[] | undefined;
        try {
          results = (JSON.parse(text) as { results?: typeof results }).results;
        } catch {
          results = undefined;
        }
        events.forEach(({ record }, index) => {
          const result = results?.[index];
          if (result?.index === index && result.status === 'accepted') this.tracker.recordAccepted(record);
          else this.tracker.recordFailed(record, result?.error ?? `http_${status}`);
        });
      },
      (err) => {
        for (const { record } of events) this.tracker.recordFailed(record, err.message);
      },
    );
  }

  /** Sends `rate` events/s for `seconds`, resolving when the last one is sent (not answered). */
  async run(rate: number, seconds: number, phase: number, recipients?: (n: number) => number): Promise<void> {
    const total = Math.round(rate * seconds);
    const start = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
        const recipient = (n: number) => (recipients ? recipients(n) : n % this.userIds.length);
        if (this.batchSize === 1) {
          while (sent < due) this.sendOne(phase, recipient(sent++));
        } else {
          // Whole batches as they fall due; the last, partial one when the schedule ends.
          while (due - sent >= this.batchSize || (due === total && sent < due)) {
            const size = Math.min(this.batchSize, due - sent);
            this.sendBatch(
              phase,
              Array.from({ length: size }, () => recipient(sent++)),
            );
          }
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
    this.http.close();
  }
}

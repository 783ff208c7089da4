import type { Session } from './session.js';

/**
 * How many AUTH and ACK frames one instance handles at once (an ACK waits for Redis and then for
 * the broker's confirm, an AUTH for Redis). Frames read past it wait in a queue, in the order
 * they were read, and their sockets are not read further until the queue is empty again: the
 * client's next frames wait in its own TCP buffers, not as work here.
 *
 * Without it an instance whose clients ACKed faster than it and the broker could confirm started
 * every frame at once: tens of thousands were in flight (52,889 when the drain gave up in
 * test/e2e/ws-shutdown-load.test.ts), each confirm cost a search of the array of unconfirmed
 * publishes (amqp-connection-manager), the event loop stalled for seconds, SIGTERM was acted on
 * 11 s late and the process exited 21 s after it (issue #16). Bounded, a shutdown waits for at
 * most this many frames and drops the queued ones, which were never answered, so their clients
 * send them again after reconnecting.
 *
 * 500 is far above what a healthy instance holds at once (a frame is answered in milliseconds,
 * so it allows tens of thousands a second) and far below what stalled the event loop.
 */
export const MAX_FRAMES_IN_FLIGHT = 500;

interface Waiting {
  session: Session;
  run: () => Promise<unknown>;
}

/** Runs client frames at most `limit` at a time; pauses reading the sockets whose frames wait. */
export class FrameWindow {
  private inFlight = 0;
  private readonly waiting: Waiting[] = [];
  /** Sockets not read since (performance.now()). */
  private readonly paused = new Map<Session, number>();
  private closed = false;

  constructor(
    private readonly limit: number,
    /** Called once per socket paused (the metric). */
    private readonly onPause: () => void = () => undefined,
  ) {}

  /** Frames being handled now. */
  get size(): number {
    return this.inFlight;
  }

  /** Frames read and waiting for room. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `run` (the handling of one frame of `session`) now if there is room and nothing waits
   * before it, else queues it and stops reading the socket. ws may still deliver frames it has
   * read already; they queue behind.
   */
  submit(session: Session, run: () => Promise<unknown>): void {
    if (this.closed) return;
    if (this.inFlight < this.limit && this.waiting.length === 0) {
      this.start(run);
      return;
    }
    this.waiting.push({ session, run });
    if (this.paused.has(session)) return;
    this.paused.set(session, performance.now());
    session.ws.pause();
    this.onPause();
  }

  /**
   * Shutdown: frames still queued are dropped (never answered: the client sends them again) and
   * every paused socket is read again, so its close handshake arrives.
   */
  close(): void {
    this.closed = true;
    this.waiting.length = 0;
    this.resumeAll();
  }

  private start(run: () => Promise<unknown>): void {
    this.inFlight += 1;
    void run().finally(() => this.release());
  }

  private release(): void {
    this.inFlight -= 1;
    while (this.inFlight < this.limit && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      // A socket closed while its frame waited: nobody to answer.
      if (next.session.state !== 'closed') this.start(next.run);
    }
    if (this.waiting.length === 0 && this.paused.size > 0) this.resumeAll();
  }

  private resumeAll(): void {
    const now = performance.now();
    for (const [session, since] of this.paused) {
      // The frames it sent while not read arrive at once: they are not a flood.
      session.limiter.credit(now - since);
      session.ws.resume(); // a closed socket ignores it
    }
    this.paused.clear();
  }
}

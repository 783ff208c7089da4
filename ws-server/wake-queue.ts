/**
 * Wakes are handled a slice of time at a time, not as they are read. One read of the subscriber
 * connection can bring megabytes of wakes, and pushing each to the user's sockets is a write per
 * socket: an instance behind on pushes spent seconds inside one read (a CPU profile showed the
 * subscriber's read callback holding the loop), and everything else waited that long, ACK
 * confirms and SIGTERM included (issue #16: with the ACK bound alone, the signal was still acted
 * on 7 s after it arrived). Between slices the event loop serves the rest.
 *
 * Past MAX_QUEUED_WAKES the subscriber connection is not read until half have been handled: what
 * Redis then holds for it is bounded by its pub/sub output buffer limit, past which Redis drops
 * the connection and the instance resyncs its sockets from the buffer (wake.ts), as after any
 * lost wake.
 */
export const WAKE_SLICE_MS = 10;
export const MAX_QUEUED_WAKES = 20_000;

export class WakeQueue {
  private queue: string[] = [];
  private head = 0;
  private scheduled = false;
  private paused = false;
  private closed = false;

  constructor(
    private readonly handle: (raw: string) => void,
    /** Stops and restarts reading the subscriber connection. */
    private readonly flow: { pause(): void; resume(): void },
    private readonly maxQueued = MAX_QUEUED_WAKES,
    private readonly sliceMs = WAKE_SLICE_MS,
  ) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  push(raw: string): void {
    if (this.closed) return;
    this.queue.push(raw);
    if (!this.paused && this.size >= this.maxQueued) {
      this.paused = true;
      this.flow.pause();
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Shutdown: what is queued is dropped (it stays pending in the buffer), nothing more is taken. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.head = 0;
  }

  private readonly run = (): void => {
    this.scheduled = false;
    const until = performance.now() + this.sliceMs;
    // The clock is read every 16 wakes: a push costs far less than a millisecond.
    while (!this.closed && this.head < this.queue.length) {
      this.handle(this.queue[this.head++]!);
      if ((this.head & 15) === 0 && performance.now() >= until) break;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.paused && this.size <= this.maxQueued / 2) {
      this.paused = false;
      this.flow.resume();
    }
    if (this.size > 0 && !this.closed) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  };
}

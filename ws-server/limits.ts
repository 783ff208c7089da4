/**
 * Per-socket limits that protect the server from one client: a frame-rate window (flooding ends
 * with close 1008) and the send-buffer cap (a client that does not read ends with close 1013
 * before its unsent frames cost unbounded memory). Frame size is capped by ws's maxPayload.
 */

/** Counts frames in fixed one-second windows; cheap enough to run on every frame. */
export class FrameRateLimiter {
  private windowStart = 0;
  private count = 0;
  /** Frames allowed past the budget until `creditUntil` (credit()). */
  private credits = 0;
  private creditUntil = 0;

  constructor(private readonly maxPerSecond: number) {}

  /** False when this frame exceeds the budget of the current second (and no credit is left). */
  allow(now = Date.now()): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count += 1;
    if (this.count <= this.maxPerSecond) return true;
    if (this.credits > 0 && now < this.creditUntil) {
      this.credits -= 1;
      return true;
    }
    return false;
  }

  /**
   * The server did not read the socket for `pausedMs` (frame-window.ts): what the client sent
   * meanwhile at the allowed rate arrives at once and must not count as a flood. The credit is
   * for that burst only, so it lapses a second after it is granted.
   */
  credit(pausedMs: number, now = Date.now()): void {
    this.credits = Math.ceil((pausedMs / 1000) * this.maxPerSecond);
    this.creditUntil = now + 1000;
  }
}

/**
 * Whether `bytes` more may be queued on a socket that already holds `buffered` unsent bytes.
 * The check runs before the send, so the buffer never grows past the cap by more than nothing.
 */
export function fitsSendBuffer(buffered: number, bytes: number, maxBufferedBytes: number): boolean {
  return buffered + bytes <= maxBufferedBytes;
}

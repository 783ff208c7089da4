import type { Session } from './session.js';

/**
 * The AUTH deadline of every socket that has not sent its AUTH frame yet, checked by one sweep
 * instead of a timer per socket (20,000 idle sockets would be 20,000 timers). Sockets are
 * registered as they open, so the set is ordered by deadline and a sweep stops at the first
 * socket still in time.
 *
 * Only a missing AUTH frame counts (docs/protocol.md: "no AUTH within AUTH_TIMEOUT_MS"): once
 * it arrived, verifying it and reading the replay is the server's work, and a server slowed by a
 * reconnect storm must not refuse the clients it is slow to answer.
 */
export class AuthDeadlines {
  private readonly waiting = new Set<Session>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpired: (session: Session) => void,
  ) {
    // A quarter of the timeout, at most 250 ms: a socket is cut at most that late.
    this.timer = setInterval(() => this.sweep(), Math.max(10, Math.min(250, Math.floor(timeoutMs / 4))));
    this.timer.unref();
  }

  /** Starts the socket's clock (it counts from Session.openedAtMs). */
  add(session: Session): void {
    this.waiting.add(session);
  }

  /** The socket sent its AUTH frame or closed. */
  remove(session: Session): void {
    this.waiting.delete(session);
  }

  sweep(nowMs = performance.now()): void {
    for (const session of this.waiting) {
      if (session.state !== 'new') {
        this.waiting.delete(session);
        continue;
      }
      if (nowMs - session.openedAtMs < this.timeoutMs) return;
      this.waiting.delete(session);
      this.onExpired(session);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.waiting.clear();
  }
}

import type { WebSocket } from 'ws';
import type { Notification } from '../shared/notification.js';
import type { UnreadState } from '../shared/unread.js';
import { fitsSendBuffer, type FrameRateLimiter } from './limits.js';
import type { CloseReason, WsMetrics } from './metrics.js';
import { TOKEN_EXPIRED_REASON } from '../shared/protocol/frames.js';
import { CLOSE, type ServerFrame } from './protocol.js';

/** A notification sent on this socket and not yet acked. */
export interface InFlight {
  notification: Notification;
  /** How many times it was sent on this socket. */
  attempts: number;
  firstSentAtMs: number;
  timer: NodeJS.Timeout | undefined;
}

/** Grace for the close handshake of a socket we cut off; then the TCP socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** setTimeout's longest delay; a later expiry is reached in several steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Acked versions remembered per socket: enough to cover a replay read racing the ACKs of one window. */
const RECENTLY_ACKED_MAX = 1000;

/** One socket: its auth state, what is in flight on it, and the only way to write to it. */
export class Session {
  state: 'new' | 'authenticating' | 'ready' | 'closed' = 'new';
  userId: string | undefined;
  alive = true;
  /** performance.now() when the socket opened: the AUTH deadline and stage timings count from it. */
  readonly openedAtMs = performance.now();
  readonly inFlight = new Map<string, InFlight>();
  /**
   * Versions this socket's user acked while they were in flight here, the most recent
   * RECENTLY_ACKED_MAX: a replay or resync read before the ACK landed must not send them again
   * (a higher version, a grown aggregate, still goes out).
   */
  readonly recentlyAcked = new Map<string, number>();
  /** Wake-ups that arrived while the AUTH replay was being read; pushed right after it. */
  private deferred: Notification[] = [];
  /** The next try of this socket's replay catch-up from MongoDB (catch-up.ts), if one is due. */
  catchUpTimer: NodeJS.Timeout | undefined;
  /** The newest unread count this socket knows (highest version); frames never carry an older one. */
  unread: UnreadState | undefined;
  /**
   * MongoDB checks of this socket's ACKs (stored-ack.ts) waiting or running, with the Redis and
   * broker writes that follow them: at most MAX_STORED_ACK_CHECKS, so one socket cannot fill the
   * instance's background loads.
   */
  storedAckChecks = 0;
  /** Closes the socket when its token stops being valid (expireAt). */
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly maxBufferedBytes: number,
    private readonly metrics: WsMetrics,
    /** Frames per second this client may send (limits.ts). */
    readonly limiter: FrameRateLimiter,
  ) {}

  get open(): boolean {
    return this.state !== 'closed' && this.ws.readyState === this.ws.OPEN;
  }

  /** Sends one frame, or cuts the client off (1013) if it stopped reading. False if not sent. */
  send(frame: ServerFrame): boolean {
    if (!this.open) return false;
    return this.sendEncoded(JSON.stringify(frame));
  }

  /** `send` of a frame already serialised (a push shares one encoding among the user's sockets). */
  sendEncoded(data: string): boolean {
    if (!this.open) return false;
    const bytes = Buffer.byteLength(data);
    if (!fitsSendBuffer(this.ws.bufferedAmount, bytes, this.maxBufferedBytes)) {
      this.close(CLOSE.tryAgainLater, 'slow consumer: send buffer full', 'slow-consumer');
      return false;
    }
    this.ws.send(data);
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.metrics.sendBufferPeakValue) {
      this.metrics.sendBufferPeakValue = buffered;
      this.metrics.sendBufferPeak.set(buffered);
    }
    return true;
  }

  /** Keeps `state` if it is newer than what the socket knows; true if it was. */
  /** Remembers an acked version (bounded: the oldest is forgotten first). */
  rememberAcked(id: string, version: number): void {
    this.recentlyAcked.delete(id);
    this.recentlyAcked.set(id, version);
    if (this.recentlyAcked.size > RECENTLY_ACKED_MAX)
      this.recentlyAcked.delete(this.recentlyAcked.keys().next().value!);
  }

  /** True when `version` of `id` (or a newer one) was acked on this socket. */
  ackedAlready(id: string, version: number): boolean {
    const acked = this.recentlyAcked.get(id);
    return acked !== undefined && acked >= version;
  }

  observeUnread(state: UnreadState): boolean {
    if (this.unread && this.unread.version >= state.version) return false;
    this.unread = state;
    return true;
  }

  defer(notifications: Notification[]): void {
    this.deferred.push(...notifications);
  }

  takeDeferred(): Notification[] {
    const taken = this.deferred;
    this.deferred = [];
    return taken;
  }

  /** Closes with a code the client can act on; terminates if the handshake does not finish. */
  close(code: number, reason: string, why: CloseReason): void {
    if (this.state === 'closed') return;
    this.markClosed();
    this.sendClose(code, reason, why);
  }

  /**
   * The close frame of `close`, for a session markClosed() has stopped already: shutdown stops
   * every session at once, then sends the frames a slice at a time (bootstrap.ts).
   */
  sendClose(code: number, reason: string, why: CloseReason): void {
    this.metrics.closed.inc({ reason: why });
    this.ws.close(code, reason);
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /**
   * Closes the socket with 4401 once its token is no longer valid, so the client
   * re-authenticates with a fresh token (docs/protocol.md). A timer per authenticated socket
   * rather than the heartbeat sweep: that runs every HEARTBEAT_INTERVAL_MS (30 s), which would
   * let a socket outlive its token by as much; an authenticated socket already holds timers
   * (redelivery, catch-up), and unauthenticated ones, the many an attacker can open, get none.
   */
  expireAt(validUntilMs: number): void {
    clearTimeout(this.expiryTimer);
    const left = validUntilMs - Date.now();
    if (left <= 0) {
      this.close(CLOSE.authFailed, TOKEN_EXPIRED_REASON, 'token-expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.expireAt(validUntilMs), Math.min(left, MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  /** Stops every redelivery timer; what was in flight stays pending in Redis. */
  markClosed(): void {
    this.state = 'closed';
    clearTimeout(this.catchUpTimer);
    clearTimeout(this.expiryTimer);
    for (const entry of this.inFlight.values()) clearTimeout(entry.timer);
    this.inFlight.clear();
  }
}

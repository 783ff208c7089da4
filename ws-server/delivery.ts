import type { Redis } from '../shared/redis.js';
import { ackedAt } from '../shared/buffer.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Notification } from '../shared/notification.js';
import type { UnreadState } from '../shared/unread.js';
import type { WsMetrics } from './metrics.js';
import { notificationFrame } from './protocol.js';
import type { ConnectionRegistry } from './registry.js';
import type { Session } from './session.js';

export interface DeliveryOptions {
  ackTimeoutMs: number;
  maxRedeliveries: number;
}

/**
 * Pushing notifications to sockets and re-sending what is not acked in time.
 *
 * Redelivery timers are in-process on purpose: they only speed things up for a connected
 * client. If this process dies the buffer in Redis still holds every unacked notification and
 * the client's reconnect replays it, so no delay that matters for durability lives here.
 */
export class Delivery {
  constructor(
    private readonly redis: Redis,
    private readonly registry: ConnectionRegistry,
    private readonly metrics: WsMetrics,
    private readonly options: DeliveryOptions,
    private readonly logger: Logger,
  ) {}

  /** `push` to several sockets (a user's devices), each frame serialised once for all of them. */
  pushToAll(sessions: Session[], notifications: Notification[], unread?: UnreadState): void {
    const frames = new FrameEncodings();
    for (const session of sessions) this.push(session, notifications, unread, frames);
  }

  /**
   * Sends each notification the session does not already hold in flight at the same or a newer
   * version, so a wake-up racing the AUTH replay does not double-send. Each frame carries the
   * newest unread count the socket knows (`unread`, read once per batch by the caller, or
   * carried by the wake). The 'sent' timeline stage is not written here: the ACK script records
   * the first-sent time held in flight (ack.ts), one Redis call per ACK instead of one per send.
   */
  push(session: Session, notifications: Notification[], unread?: UnreadState, frames = new FrameEncodings()): void {
    // Kept even while authenticating: AUTH_OK then carries the newest count.
    if (unread) session.observeUnread(unread);
    if (session.state === 'authenticating') {
      session.defer(notifications);
      return;
    }
    for (const n of notifications) {
      if (!session.open) return;
      const held = session.inFlight.get(n.id);
      if (held && held.notification.version >= n.version) continue;
      // Read before the ACK landed (a resync, a wake racing it): already acked at this version.
      if (session.ackedAlready(n.id, n.version)) continue;
      if (held) clearTimeout(held.timer);
      if (!session.sendEncoded(frames.of(n, session.unread))) return;
      const entry = {
        notification: n,
        attempts: 1,
        firstSentAtMs: held?.firstSentAtMs ?? Date.now(),
        timer: undefined,
      };
      session.inFlight.set(n.id, entry);
      this.metrics.sent.inc();
      this.logger.debug(
        { notificationId: n.id, userId: n.userId, version: n.version, redelivery: held !== undefined },
        'notification sent',
      );
      this.schedule(session, n.id);
    }
  }

  /** When a socket of the user here first sent `id` (the earliest of them), if one holds it in flight. */
  firstSentAtMs(userId: string, id: string): number | undefined {
    let first: number | undefined;
    for (const session of this.registry.sessionsOf(userId)) {
      const at = session.inFlight.get(id)?.firstSentAtMs;
      if (at !== undefined && (first === undefined || at < first)) first = at;
    }
    return first;
  }

  /**
   * Every socket of the user on this instance stops re-sending these ids, each up to the version
   * its ack settled (`versions`: id → version): a higher version one of them holds in flight, a
   * grown aggregate committed and pushed while the ACK was being handled, keeps its redelivery,
   * for the ack does not cover it.
   */
  acked(userId: string, versions: ReadonlyMap<string, number>, nowMs = Date.now()): void {
    for (const session of this.registry.sessionsOf(userId)) {
      for (const [id, version] of versions) {
        const entry = session.inFlight.get(id);
        if (!entry || entry.notification.version > version) continue;
        clearTimeout(entry.timer);
        session.inFlight.delete(id);
        session.rememberAcked(id, version);
        this.metrics.ackLatency.observe((nowMs - entry.firstSentAtMs) / 1000);
      }
    }
  }

  /**
   * The client on `session` acked an older version of these notifications than the buffer holds
   * (shared/buffer-ack.lua 'stale-version'): each newer one stays pending and is sent to this
   * socket unless it holds it in flight already, whose redelivery timer then keeps running. An
   * older version in flight is replaced by it (push does), so the one the client acked is not
   * re-sent. While do-not-disturb holds a newer one back (`held`, as its wake is held back) the
   * older one just stops being re-sent: the newer one comes with its wake when the window ends,
   * or with the next replay.
   */
  ackedOlder(session: Session, newer: Notification[], held: (n: Notification) => boolean): void {
    const send: Notification[] = [];
    for (const n of newer) {
      const entry = session.inFlight.get(n.id);
      if (entry && entry.notification.version >= n.version) continue;
      if (!held(n)) {
        send.push(n);
      } else if (entry) {
        clearTimeout(entry.timer);
        session.inFlight.delete(n.id);
        session.rememberAcked(n.id, entry.notification.version);
      }
    }
    this.push(session, send);
  }

  /** The notifications of `newer` that `ackedOlder` would have to send or stop: none held in flight at their version. */
  notHeldInFlight(session: Session, newer: Notification[]): Notification[] {
    return newer.filter((n) => (session.inFlight.get(n.id)?.notification.version ?? 0) < n.version);
  }

  private schedule(session: Session, id: string): void {
    const entry = session.inFlight.get(id);
    if (!entry) return;
    entry.timer = setTimeout(() => {
      this.redeliver(session, id).catch((err: unknown) =>
        this.logger.warn(
          { err: errorMessage(err), notificationId: id },
          'redelivery check failed; the buffer keeps it for replay',
        ),
      );
    }, this.options.ackTimeoutMs);
    entry.timer.unref();
  }

  private async redeliver(session: Session, id: string): Promise<void> {
    const entry = session.inFlight.get(id);
    if (!entry || !session.open) return;
    // Another device, or another instance, may have acked it meanwhile.
    const [acked] = await ackedAt(this.redis, entry.notification.userId, [id]);
    if (acked !== null && acked !== undefined) {
      session.inFlight.delete(id);
      return;
    }
    if (entry.attempts > this.options.maxRedeliveries) {
      // Stop spending the socket on it; it stays pending and comes back on reconnect.
      session.inFlight.delete(id);
      return;
    }
    if (!session.inFlight.has(id) || !session.send(notificationFrame(entry.notification, session.unread))) return;
    entry.attempts += 1;
    this.metrics.sent.inc();
    this.metrics.redelivered.inc();
    this.schedule(session, id);
  }
}

/**
 * The NOTIFICATION frames of one push, serialised once per (notification version, unread
 * version): the sockets of one user nearly always know the same count, so they share the bytes.
 */
export class FrameEncodings {
  private readonly encoded = new Map<string, string>();

  of(n: Notification, unread: UnreadState | undefined): string {
    const key = `${n.id}\u0000${n.version}\u0000${unread?.version ?? ''}`;
    let data = this.encoded.get(key);
    if (data === undefined) {
      data = JSON.stringify(notificationFrame(n, unread));
      this.encoded.set(key, data);
    }
    return data;
  }
}

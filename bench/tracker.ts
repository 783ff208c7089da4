import { summarize, type LatencySummary } from './stats.js';

/**
 * What the client side knows about every event it sent: when it was sent, accepted (HTTP 202),
 * received as a NOTIFICATION and acked. Events are matched to notifications by their unique
 * postId, which the notification carries as `objectId`. All latencies come from these
 * client-side timestamps (performance.now, ms), never from the services' own clocks.
 */
export interface EventRecord {
  key: string;
  userId: string;
  phase: number;
  sentAt: number;
  acceptedAt?: number;
  failed?: string;
  notificationId?: string;
  receivedAt?: number;
  /** Wall clock (epoch ms) of the ACK frame carrying it, to compare with MongoDB's persistedAt. */
  ackedWallMs?: number;
  receipts: number;
}

export interface WindowSample {
  /** Seconds since the start of the measurement. */
  t: number;
  sent: number;
  accepted: number;
  delivered: number;
  backlog: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export class Tracker {
  readonly events = new Map<string, EventRecord>();
  private readonly byNotification = new Map<string, EventRecord>();
  startedAt = performance.now();
  /** Delivered during the warm-up: not measured, but stored like the rest. */
  warmupDelivered = 0;
  sent = 0;
  accepted = 0;
  failed = 0;
  /** Why requests failed (HTTP status or socket error), counted. */
  readonly failures = new Map<string, number>();
  delivered = 0;
  /** A NOTIFICATION frame for an id the client had already ACKed: must stay 0. */
  duplicatesAfterAck = 0;
  /** A second frame for an id not yet acked (at-least-once redelivery; allowed, reported). */
  redeliveries = 0;
  /** A NOTIFICATION that matches no event this run sent. */
  unknown = 0;
  private windowLatencies: number[] = [];
  private windowStart = { sent: 0, accepted: 0, delivered: 0 };
  readonly windows: WindowSample[] = [];

  constructor(readonly runTag: string) {}

  /**
   * Ends the warm-up (caches filled, connections and JIT warm): forgets everything measured so
   * far. Called only once the warm-up is fully delivered, so no late frame belongs to it.
   */
  reset(): void {
    this.warmupDelivered += this.delivered;
    this.events.clear();
    this.byNotification.clear();
    this.sent = this.accepted = this.failed = this.delivered = 0;
    this.failures.clear();
    this.duplicatesAfterAck = this.redeliveries = this.unknown = 0;
    this.windowLatencies = [];
    this.windowStart = { sent: 0, accepted: 0, delivered: 0 };
    this.windows.length = 0;
    this.startedAt = performance.now();
  }

  elapsedSeconds(now = performance.now()): number {
    return (now - this.startedAt) / 1000;
  }

  recordSent(key: string, userId: string, phase: number): EventRecord {
    const record: EventRecord = { key, userId, phase, sentAt: performance.now(), receipts: 0 };
    this.events.set(key, record);
    this.sent++;
    return record;
  }

  recordAccepted(record: EventRecord): void {
    record.acceptedAt = performance.now();
    this.accepted++;
  }

  recordFailed(record: EventRecord, reason: string): void {
    record.failed = reason;
    this.failed++;
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }

  /** Returns true when the notification is new and must be ACKed. */
  recordReceived(notificationId: string, objectId: string | null): boolean {
    const now = performance.now();
    const record = (objectId && this.events.get(objectId)) || this.byNotification.get(notificationId);
    if (!record) {
      this.unknown++;
      return true;
    }
    record.receipts++;
    if (record.receivedAt !== undefined) {
      if (record.ackedWallMs !== undefined) this.duplicatesAfterAck++;
      else this.redeliveries++;
      return record.ackedWallMs === undefined;
    }
    record.receivedAt = now;
    record.notificationId = notificationId;
    this.byNotification.set(notificationId, record);
    this.delivered++;
    this.windowLatencies.push(now - (record.acceptedAt ?? record.sentAt));
    return true;
  }

  recordAcked(notificationId: string, wallMs: number): void {
    const record = this.byNotification.get(notificationId);
    if (record && record.ackedWallMs === undefined) record.ackedWallMs = wallMs;
  }

  get backlog(): number {
    return this.accepted - this.delivered;
  }

  /** Closes the current one-second window (called by the progress ticker). */
  closeWindow(): WindowSample {
    const s = summarize(this.windowLatencies);
    const sample: WindowSample = {
      t: Math.round(this.elapsedSeconds() * 10) / 10,
      sent: this.sent - this.windowStart.sent,
      accepted: this.accepted - this.windowStart.accepted,
      delivered: this.delivered - this.windowStart.delivered,
      backlog: this.backlog,
      p50: s.p50,
      p90: s.p90,
      p99: s.p99,
    };
    this.windows.push(sample);
    this.windowLatencies = [];
    this.windowStart = { sent: this.sent, accepted: this.accepted, delivered: this.delivered };
    return sample;
  }

  /** Accepted → received, ms. A notification can arrive before its 202 does; that counts as 0. */
  latency(filter: (r: EventRecord) => boolean = () => true): {
    acceptedToReceived: LatencySummary;
    sentToReceived: LatencySummary;
  } {
    const accepted: number[] = [];
    const sent: number[] = [];
    for (const r of this.events.values()) {
      if (r.receivedAt === undefined || !filter(r)) continue;
      sent.push(r.receivedAt - r.sentAt);
      if (r.acceptedAt !== undefined) accepted.push(Math.max(0, r.receivedAt - r.acceptedAt));
    }
    return { acceptedToReceived: summarize(accepted), sentToReceived: summarize(sent) };
  }

  /** Accepted events never received: the number that must be 0. */
  lost(filter: (r: EventRecord) => boolean = () => true): EventRecord[] {
    return [...this.events.values()].filter(
      (r) => r.acceptedAt !== undefined && r.receivedAt === undefined && filter(r),
    );
  }
}

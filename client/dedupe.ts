import type { UnreadEvent } from './types.js';

/** How many notification ids the client remembers for dedupe; the oldest are forgotten first. */
export const DEDUPE_CAPACITY = 10_000;

/**
 * Delivery is at least once (replays, redeliveries, two instances), so the client decides what
 * is new: an id not seen yet, or a higher version of one seen (an aggregate that grew). The
 * memory is bounded; an id old enough to be forgotten has long been acked, and the server never
 * sends an acked id again at the same version.
 */
export class NotificationDedupe {
  private readonly versions = new Map<string, number>();

  constructor(private readonly capacity = DEDUPE_CAPACITY) {}

  /** The highest version of `id` emitted, or undefined once forgotten (or never seen): what an ack of it names. */
  version(id: string): number | undefined {
    return this.versions.get(id);
  }

  /** True when (id, version) is new and should be emitted; records it. */
  admit(id: string, version: number): boolean {
    const seen = this.versions.get(id);
    if (seen !== undefined && seen >= version) return false;
    // Re-inserted so the Map's order is the order of last change, oldest first.
    this.versions.delete(id);
    this.versions.set(id, version);
    if (this.versions.size > this.capacity) {
      const oldest = this.versions.keys().next().value;
      if (oldest !== undefined) this.versions.delete(oldest);
    }
    return true;
  }
}

/**
 * The unread count: frames from two instances (or a NOTIFICATION and an UNREAD) may cross, and
 * versions only grow, so the highest version wins and anything not newer is ignored.
 */
export class UnreadTracker {
  current: UnreadEvent | undefined;

  /** True when this count is newer than the current one (and now is the current one). */
  offer(count: number, version: number): boolean {
    if (this.current && version <= this.current.version) return false;
    this.current = { count, version };
    return true;
  }
}

import type { Preferences, PreferenceStore } from '../shared/preferences.js';

/**
 * The consumer's in-process copy of recipients' preferences, in front of the Redis copy
 * (shared/preferences.ts), so the decide step of a batch whose recipients were seen lately sends
 * no Redis request at all. At a few hundred events a second most batches hold one event, and that
 * MGET was one of the batch's two round trips (docs/performance.md).
 *
 * Freshness, in order of what usually happens:
 * - a preferences write PUBLISHes its userId once the new Redis copy is stored
 *   (keys.preferencesChanged); `invalidate(userId)` drops the copy, so the next read fetches the
 *   new one (consumer/preference-changes.ts subscribes);
 * - a read that was in flight when any invalidation arrived is used for its own batch but not
 *   kept: it may have fetched the copy just replaced;
 * - while the subscription is down (`suspend`) nothing is kept or served from memory, and on its
 *   return (`resume`) everything is dropped: messages of the gap are lost (pub/sub is at most once);
 * - whatever the messages did, nothing is kept longer than `ttlMs` (CONSUMER_PREFERENCES_CACHE_MS),
 *   which also bounds a change made around the API (straight into MongoDB and Redis).
 * The defaults standing in for a MongoDB read that did not finish in time are never kept.
 */
export interface PreferenceCacheOptions {
  /** Longest a copy is kept; 0 turns the cache off (every batch reads Redis, as before). */
  ttlMs: number;
  /** Users kept at most; the least recently stored go first. */
  maxEntries: number;
  onLookup?: (outcome: 'hit' | 'miss', count: number) => void;
  now?: () => number;
}

export class PreferenceCache {
  private readonly entries = new Map<string, { prefs: Preferences; expiresAtMs: number }>();
  /** Bumped by every invalidation: a read that saw it change keeps nothing. */
  private generation = 0;
  private suspended = true;

  constructor(
    private readonly store: Pick<PreferenceStore, 'readManyWithStandIns'>,
    private readonly options: PreferenceCacheOptions,
  ) {}

  /** How many users are held (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** The recipients' preferences: from memory when held and fresh, the rest in one Redis read. */
  async readMany(userIds: string[]): Promise<Map<string, Preferences>> {
    const now = (this.options.now ?? Date.now)();
    const found = new Map<string, Preferences>();
    const missing: string[] = [];
    const serving = this.options.ttlMs > 0 && !this.suspended;
    for (const userId of new Set(userIds)) {
      const entry = serving ? this.entries.get(userId) : undefined;
      if (entry !== undefined && entry.expiresAtMs > now) found.set(userId, entry.prefs);
      else missing.push(userId);
    }
    if (found.size > 0) this.options.onLookup?.('hit', found.size);
    if (missing.length === 0) return found;
    this.options.onLookup?.('miss', missing.length);
    const generation = this.generation;
    const read = await this.store.readManyWithStandIns(missing);
    const keep = serving && !this.suspended && generation === this.generation;
    for (const [userId, prefs] of read.prefs) {
      found.set(userId, prefs);
      if (keep && !read.standIns.has(userId)) this.remember(userId, prefs, now);
    }
    return found;
  }

  /** A write of this user's preferences was announced. */
  invalidate(userId: string): void {
    this.generation += 1;
    this.entries.delete(userId);
  }

  /** The announcements may be missed from now on: hold and serve nothing until `resume`. */
  suspend(): void {
    this.generation += 1;
    this.suspended = true;
    this.entries.clear();
  }

  /** Announcements arrive again; whatever changed meanwhile is unknown, so start empty. */
  resume(): void {
    this.generation += 1;
    this.entries.clear();
    this.suspended = false;
  }

  private remember(userId: string, prefs: Preferences, now: number): void {
    this.entries.delete(userId); // re-inserted last: the Map's order is the eviction order
    this.entries.set(userId, { prefs, expiresAtMs: now + this.options.ttlMs });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}

import type { Redis } from '../shared/redis.js';
import type { BackgroundLoads } from '../shared/background.js';
import type { Models } from '../shared/models/index.js';
import { fillUserName, readUserNames } from '../shared/user-directory.js';

/**
 * Display names of users for messages ("Alice liked your post"): a name is decoration, never a
 * reason to hold back or retry a notification. Each name is cached in this process for a while
 * and copied in Redis (shared/user-directory.ts), so a busy actor costs nothing and a new
 * consumer one MGET. A name Redis lacks is read from MongoDB in the background (bounded, shared/background.ts) and waited
 * on for at most MONGO_FALLBACK_WAIT_MS; past that, or with MongoDB down, the id stands in and
 * the load fills Redis for the next event.
 */
export interface UserNames {
  resolve(ids: string[]): Promise<(id: string) => string>;
}

export interface UserNamesOptions {
  /** How long this process trusts a name it read (USER_NAME_CACHE_TTL_MS). */
  ttlMs: number;
  fallbackWaitMs: number;
  loads: BackgroundLoads;
  onFallback?: () => void;
}

/** Entries kept in memory before the cache starts over (a bound, not a tuning knob). */
const MAX_CACHED = 100_000;

export function createUserNames(models: Models, redis: Redis, options: UserNamesOptions): UserNames {
  const cache = new Map<string, { name: string | null; expiresAt: number }>();
  const remember = (id: string, name: string | null, now: number) => {
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(id, { name, expiresAt: now + options.ttlMs });
  };
  // One _id lookup per name, not one `$in` query: the same cost on MongoDB, and FerretDB does not
  // push `$in` down to its backend, so it answers it by reading the whole collection.
  const load = async (id: string) => {
    const user = await models.User.findById(id, { name: 1 }).lean();
    const name = user?.name ?? null;
    await fillUserName(redis, id, name);
    return name;
  };

  return {
    async resolve(ids) {
      const now = Date.now();
      const missing = [...new Set(ids)].filter((id) => (cache.get(id)?.expiresAt ?? 0) <= now);
      if (missing.length > 0) {
        const copies = await readUserNames(redis, missing);
        const unknown: string[] = [];
        missing.forEach((id, i) => {
          const copy = copies[i];
          if (copy === undefined) unknown.push(id);
          else remember(id, copy, now);
        });
        const loaded = await Promise.all(
          unknown.map((id) => options.loads.attempt(`name:${id}`, () => load(id), options.fallbackWaitMs)),
        );
        unknown.forEach((id, i) => {
          const answer = loaded[i];
          if (answer?.done) remember(id, answer.value, now);
          else options.onFallback?.();
        });
      }
      return (id) => cache.get(id)?.name ?? id;
    },
  };
}

import type { Model } from 'mongoose';
import { forEachLimited } from '../shared/each-limited.js';
import { keys } from '../shared/keys.js';
import type { NotificationDoc } from '../shared/models/index.js';
import type { Redis } from '../shared/redis.js';
import type { StoredCount } from './after-write.js';
import type { JobsMetrics } from './metrics.js';
import { settleStored } from './stored-count.js';

export interface CapDeps {
  redis: Redis;
  model: Model<NotificationDoc>;
  metrics: Pick<JobsMetrics, 'capChecks' | 'capRemoved'>;
}

/**
 * A user the cap could not bring down (unread notifications are never removed) is asked about
 * again only once this many more of theirs are stored: a tenth of the cap. Checking them on every
 * batch, as before, cost two queries per such user per batch; with every user of a busy instance
 * over the cap (the benchmark's `max` run: 200 users, 1,150 each) that was hundreds of queries per
 * batch, the pool ran dry, and 52 batches failed their cap step and were retried
 * (docs/performance.md, "`max` again"). The price: a user who reads in between keeps, until the
 * next check, up to what they were over the cap at the last one plus this step of read
 * notifications past the cap.
 */
export function recheckStep(maxPerUser: number): number {
  return Math.max(1, Math.ceil(maxPerUser / 10));
}

/**
 * A threshold that outlives its reason (two checks of one user racing, one setting it after the
 * other trimmed the user within the cap) delays that user's next check at most this long.
 */
const RECHECK_TTL_SECONDS = 86_400;

/**
 * Cap queries in flight at once. A fan-out batch can bring hundreds of users over the cap
 * together; each query holds a pooled connection (MONGO_MAX_POOL_SIZE, 10 by default), which the
 * batch's own writes and the acks consumer need as well.
 */
const CAP_QUERIES_IN_FLIGHT = 4;

/** Removes the user's oldest read notifications beyond the cap; returns what is left and what went. */
async function trimUser(model: Model<NotificationDoc>, userId: string, maxPerUser: number) {
  // Bounded: one user's documents (indexed on userId), kept near MAX_STORED_PER_USER by this cap.
  const stored = await model.countDocuments({ userId });
  const excess = stored - maxPerUser;
  if (excess <= 0) return { stored, removed: 0 };
  const oldestRead = await model
    .find({ userId, status: 'read' })
    .sort({ createdAt: 1, _id: 1 })
    .limit(excess)
    .select({ _id: 1 })
    .lean();
  if (oldestRead.length === 0) return { stored, removed: 0 };
  // userId too: FerretDB answers an `_id: { $in }` alone by scanning the whole collection.
  const result = await model.deleteMany({ userId, _id: { $in: oldestRead.map((d) => d._id) }, status: 'read' });
  return { stored: stored - result.deletedCount, removed: result.deletedCount };
}

/**
 * MAX_STORED_PER_USER: a user keeps at most that many stored notifications, but only read ones
 * are ever removed (oldest first), so nothing the user has not seen is dropped. A fan-out batch
 * touches hundreds of users, so MongoDB is asked only about those whose Redis counter says they
 * can be over the cap (`counters`: what the after-write script returned for the batch's inserts),
 * and of those, a user the last check left over the cap only once `recheckStep` more are stored
 * (the threshold comes back with the counter, from the same script: no extra request).
 */
export async function enforceCap(deps: CapDeps, counters: Map<string, StoredCount>, maxPerUser: number): Promise<void> {
  const suspects = [...counters]
    .filter(([, { counted, recheckAt }]) => counted > maxPerUser && (recheckAt === null || counted >= recheckAt))
    .map(([userId, count]) => ({ userId, ...count }));
  await forEachLimited(suspects, CAP_QUERIES_IN_FLIGHT, async ({ userId, counted }) => {
    deps.metrics.capChecks.inc();
    const { stored, removed } = await trimUser(deps.model, userId, maxPerUser);
    deps.metrics.capRemoved.inc(removed);
    await settleStored(deps.redis, userId, counted, stored);
    // Within the cap, any threshold goes, also one a concurrent check set after this batch read it.
    if (stored > maxPerUser) {
      await deps.redis.set(keys.capRecheckAt(userId), stored + recheckStep(maxPerUser), 'EX', RECHECK_TTL_SECONDS);
    } else {
      await deps.redis.del(keys.capRecheckAt(userId));
    }
  });
}

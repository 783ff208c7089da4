import type { Redis } from '../shared/redis.js';
import type { Model } from 'mongoose';
import type { NotificationDoc } from '../shared/models/index.js';
import type { JobsMetrics } from './metrics.js';
import { settleStored } from './stored-count.js';

export interface CapDeps {
  redis: Redis;
  model: Model<NotificationDoc>;
  metrics: Pick<JobsMetrics, 'capChecks' | 'capRemoved'>;
}

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
  const result = await model.deleteMany({ _id: { $in: oldestRead.map((d) => d._id) }, status: 'read' });
  return { stored: stored - result.deletedCount, removed: result.deletedCount };
}

/**
 * MAX_STORED_PER_USER: a user keeps at most that many stored notifications, but only read ones
 * are ever removed (oldest first), so nothing the user has not seen is dropped. A fan-out batch
 * touches hundreds of users, so MongoDB is asked only about those whose Redis counter says they
 * can be over the cap (`counters`: what the after-write script returned for the batch's inserts).
 */
export async function enforceCap(deps: CapDeps, counters: Map<string, number>, maxPerUser: number): Promise<void> {
  const suspects = [...counters].filter(([, counted]) => counted > maxPerUser);
  await Promise.all(
    suspects.map(async ([userId, counted]) => {
      deps.metrics.capChecks.inc();
      const { stored, removed } = await trimUser(deps.model, userId, maxPerUser);
      deps.metrics.capRemoved.inc(removed);
      await settleStored(deps.redis, userId, counted, stored);
    }),
  );
}

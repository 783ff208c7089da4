import type { Redis } from 'ioredis';
import { ackedAt } from '../shared/buffer.js';
import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Models } from '../shared/models/index.js';
import { deliveredOp, persistOps, readOp, type DeliveryState } from '../shared/models/notification-state.js';
import { bulkWrite } from './bulk-write.js';
import type { Notification } from '../shared/notification.js';
import { forgetReplayCleanIfUnbuffered } from '../shared/replay-clean.js';
import { recordStage } from '../shared/timeline.js';
import { enforceCap } from './cap.js';
import { addStored } from './stored-count.js';
import type { JobsMetrics } from './metrics.js';

export interface PersistDeps {
  redis: Redis;
  models: Models;
  metrics: JobsMetrics;
  config: Pick<Config, 'persist' | 'pipeline'>;
}

/** Within one batch the same id may arrive twice (a grown aggregate): the highest version wins. */
function latestVersions(notifications: Notification[]): Notification[] {
  const byId = new Map<string, Notification>();
  for (const n of notifications) {
    const seen = byId.get(n.id);
    if (!seen || n.version > seen.version) byId.set(n.id, n);
  }
  return [...byId.values()];
}

/** Adds the batch's inserts to the per-user counters; returns each touched user's counter. */
async function countInserted(redis: Redis, inserted: Notification[]): Promise<Map<string, number>> {
  const byUser = new Map<string, number>();
  for (const n of inserted) byUser.set(n.userId, (byUser.get(n.userId) ?? 0) + 1);
  try {
    return await addStored(redis, byUser);
  } catch (err) {
    throw new TransientError(`redis: cannot count stored notifications: ${errorMessage(err)}`, { cause: err });
  }
}

async function readMarks(redis: Redis, ids: string[]): Promise<Array<number | null>> {
  const raw = await redis.mget(ids.map((id) => keys.readBeforeStored(id)));
  return raw.map((r) => (r === null ? null : Number(r)));
}

async function deliveryState(redis: Redis, ids: string[]): Promise<DeliveryState[]> {
  try {
    const [acked, read] = await Promise.all([ackedAt(redis, ids), readMarks(redis, ids)]);
    return ids.map((_, i) => ({ ackedAtMs: acked[i] ?? null, readAtMs: read[i] ?? null }));
  } catch (err) {
    throw new TransientError(`redis: cannot read delivery state: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Stores a batch of persist jobs with bulk writes of idempotent upserts keyed by id. The
 * delivery state is read from Redis at flush time; if Redis no longer knows a notification, the
 * job's own body still stores it as undelivered and a later ack moves it forward. Any failure
 * is transient: the caller retries the whole batch, and a replay rewrites nothing.
 */
export async function persistNotifications(deps: PersistDeps, jobs: Notification[]): Promise<void> {
  const notifications = latestVersions(jobs);
  if (notifications.length === 0) return;
  const ids = notifications.map((n) => n.id);
  const { Notification: model } = deps.models;
  const maxOps = deps.config.persist.bulkMaxOps;
  const before = await deliveryState(deps.redis, ids);

  const now = new Date();
  let counters: Map<string, number>;
  try {
    const written = await bulkWrite(
      model,
      notifications.flatMap((n, i) => persistOps(n, before[i]!, now)),
      maxOps,
    );
    deps.metrics.persisted.inc(written.inserted.size);
    // Counted straight after the insert: a replay inserts nothing, so it cannot count them again.
    counters = await countInserted(deps.redis, notifications.filter((n) => written.inserted.has(n.id)));
    // A document that already existed, or an ack/read that landed while this batch was being
    // written (its AMQP ack message may have found no document yet), is advanced now.
    const after = await deliveryState(deps.redis, ids);
    const advance = notifications.flatMap((n, i) => {
      const fresh = written.inserted.has(n.id);
      const ops = [];
      const acked = after[i]!.ackedAtMs;
      const read = after[i]!.readAtMs;
      if (acked !== null && !(fresh && before[i]!.ackedAtMs !== null)) ops.push({ updateOne: deliveredOp(n.id, new Date(acked)) });
      if (read !== null && !(fresh && before[i]!.readAtMs !== null)) ops.push({ updateOne: readOp(n.id, new Date(read)) });
      return ops;
    });
    const advanced = await bulkWrite(model, advance, maxOps);
    deps.metrics.bulkWrites.inc({ queue: 'persist' }, written.commands + advanced.commands);
  } catch (err) {
    if (err instanceof TransientError) throw err;
    throw new TransientError(`mongodb: bulk write failed: ${errorMessage(err)}`, { cause: err });
  }

  try {
    const ttl = deps.config.pipeline.bufferTtlSeconds;
    await Promise.all(ids.map((id) => recordStage(deps.redis, id, 'persisted', ttl, now.getTime())));
    const undelivered = notifications.filter((_, i) => before[i]!.ackedAtMs === null && before[i]!.readAtMs === null);
    await forgetReplayCleanIfUnbuffered(deps.redis, undelivered);
    await enforceCap({ redis: deps.redis, model, metrics: deps.metrics }, counters, deps.config.persist.maxStoredPerUser);
  } catch (err) {
    // The write itself is done; replaying the batch rewrites nothing and finishes these steps.
    throw new TransientError(`after-write steps failed: ${errorMessage(err)}`, { cause: err });
  }
}

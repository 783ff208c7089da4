import type { Redis } from 'ioredis';
import { ackedAt, markPersisted } from '../shared/buffer.js';
import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Models } from '../shared/models/index.js';
import { mongoUnavailable } from '../shared/mongo.js';
import { deliveredOp, insertDoc, newerBodyOp, readOp, type DeliveryState } from '../shared/models/notification-state.js';
import { bulkWrite, insertNew } from './bulk-write.js';
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
  config: Pick<Config, 'persist' | 'pipeline' | 'mongo'>;
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

async function clearUnpersistedMarks(redis: Redis, ids: string[]): Promise<void> {
  try {
    await markPersisted(redis, ids);
  } catch (err) {
    throw new TransientError(`redis: cannot clear unpersisted marks: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Stores a batch of persist jobs: one unordered insert of every notification in the state Redis
 * knew at flush time (a duplicate _id means stored before), then one bulk write of the updates
 * the inserts could not carry. If Redis no longer knows a notification, the job's own body still
 * stores it as undelivered and a later ack moves it forward. Any failure is transient: the
 * caller retries the whole batch, and a replay rewrites nothing.
 */
export async function persistNotifications(deps: PersistDeps, jobs: Notification[]): Promise<void> {
  const notifications = latestVersions(jobs);
  if (notifications.length === 0) return;
  const ids = notifications.map((n) => n.id);
  const { Notification: model } = deps.models;
  const before = await deliveryState(deps.redis, ids);

  const now = new Date();
  let counters: Map<string, number>;
  try {
    const written = await insertNew(
      model,
      notifications.map((n, i) => insertDoc(n, before[i]!, now)),
      deps.config.mongo.batchTimeoutMs,
    );
    deps.metrics.persisted.inc(written.inserted.size);
    // Counted straight after the insert: a replay inserts nothing, so it cannot count them again.
    counters = await countInserted(deps.redis, notifications.filter((n) => written.inserted.has(n.id)));
    // Cleared before the re-read below: an ack that still saw a mark left its write to this
    // batch (jobs/acks.ts), and it happened before this re-read, which therefore sees it.
    await clearUnpersistedMarks(deps.redis, ids);
    // A document that already existed, or an ack/read that landed while this batch was being
    // written, is advanced now.
    const after = await deliveryState(deps.redis, ids);
    const advance = notifications.flatMap((n, i) => {
      const fresh = written.inserted.has(n.id);
      const ops = [];
      const newerBody = fresh ? null : newerBodyOp(n);
      if (newerBody) ops.push({ updateOne: newerBody });
      const acked = after[i]!.ackedAtMs;
      const read = after[i]!.readAtMs;
      if (acked !== null && !(fresh && before[i]!.ackedAtMs !== null)) ops.push({ updateOne: deliveredOp(n.id, new Date(acked)) });
      if (read !== null && !(fresh && before[i]!.readAtMs !== null)) ops.push({ updateOne: readOp(n.id, new Date(read)) });
      return ops;
    });
    const advanced = await bulkWrite(model, advance, deps.config.persist.bulkMaxOps, deps.config.mongo.batchTimeoutMs);
    deps.metrics.bulkWrites.inc({ queue: 'persist' }, written.commands + advanced.commands);
  } catch (err) {
    if (err instanceof TransientError) throw err;
    // Past MONGO_QUERY_TIMEOUT_MS the batch is retried later like any failed write (nothing acked
    // before it is stored); the typed error only says why in the log.
    throw mongoUnavailable(err) ?? new TransientError(`mongodb: bulk write failed: ${errorMessage(err)}`, { cause: err });
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

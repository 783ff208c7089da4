import { getMany, type Redis } from '../shared/redis.js';
import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Models } from '../shared/models/index.js';
import { mongoUnavailable } from '../shared/mongo.js';
import {
  deliveredOp,
  insertDoc,
  newerBodyOp,
  readOp,
  type DeliveryState,
} from '../shared/models/notification-state.js';
import { bulkWrite, insertNew, type DocUpdate } from './bulk-write.js';
import type { Notification } from '../shared/notification.js';
import { enforceCap } from './cap.js';
import { afterWrite, type AfterWrite, type AfterWriteInput, type StoredCount } from './after-write.js';
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

/** The acked and read marks at flush time: one MGET for the whole batch (one GET each on a cluster, sent together). */
async function deliveryState(redis: Redis, notifications: Notification[]): Promise<DeliveryState[]> {
  let raw: Array<string | null>;
  try {
    raw = await getMany(redis, [
      ...notifications.map((n) => keys.acked(n.userId, n.id)),
      ...notifications.map((n) => keys.readBeforeStored(n.userId, n.id)),
    ]);
  } catch (err) {
    throw new TransientError(`redis: cannot read delivery state: ${errorMessage(err)}`, { cause: err });
  }
  const epochMs = (r: string | null | undefined) => (r === null || r === undefined ? null : Number(r));
  return notifications.map((_, i) => ({
    ackedAtMs: epochMs(raw[i]),
    readAtMs: epochMs(raw[notifications.length + i]),
  }));
}

async function afterWriteOrTransient(redis: Redis, input: AfterWriteInput): Promise<AfterWrite> {
  try {
    return await afterWrite(redis, input);
  } catch (err) {
    throw new TransientError(`redis: after-write script failed: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Stores a batch of persist jobs: one unordered insert of every notification in the state Redis
 * knew at flush time (a duplicate _id means stored before), then one bulk write of the updates
 * the inserts could not carry. If Redis no longer knows a notification, the job's own body still
 * stores it as undelivered and a later ack moves it forward. Any failure is transient: the
 * caller retries the whole batch, and a replay rewrites nothing.
 * Redis requests per batch, whatever its size: one MGET before the insert and one script after
 * it; the cap adds calls only for users over it.
 */
export async function persistNotifications(deps: PersistDeps, jobs: Notification[]): Promise<void> {
  const notifications = latestVersions(jobs);
  if (notifications.length === 0) return;
  const { Notification: model } = deps.models;
  const before = await deliveryState(deps.redis, notifications);

  const now = new Date();
  let counters: Map<string, StoredCount>;
  try {
    const written = await insertNew(
      model,
      notifications.map((n, i) => insertDoc(n, before[i]!, now)),
      deps.config.mongo.batchTimeoutMs,
    );
    deps.metrics.persisted.inc(written.inserted.size);
    // Counted as each write is made: a document visible in MongoDB has its insert counted once the
    // script below has run (test/integration/jobs-persist.test.ts relies on that order).
    deps.metrics.bulkWrites.inc({ queue: 'persist' }, written.commands);
    const insertedByUser = new Map<string, number>();
    for (const n of notifications) {
      if (written.inserted.has(n.id)) insertedByUser.set(n.userId, (insertedByUser.get(n.userId) ?? 0) + 1);
    }
    // One script, straight after the insert: the counters grow by what it created (a replay
    // inserts nothing, so it cannot count them again), the unpersisted marks go, the ack and read
    // marks are read again (jobs/after-write.ts says why that order loses no ack), the
    // 'persisted' stage is recorded and the replay-clean marks checked.
    const after = await afterWriteOrTransient(deps.redis, {
      notifications,
      insertedByUser,
      storedUndelivered: before.map((b) => b.ackedAtMs === null && b.readAtMs === null),
      timelineTtlSeconds: deps.config.pipeline.bufferTtlSeconds,
      persistedAtMs: now.getTime(),
    });
    counters = after.counters;
    // A document that already existed, or an ack/read that landed while this batch was being
    // written, is advanced now.
    const advance = notifications.flatMap((n, i) => {
      const fresh = written.inserted.has(n.id);
      const ops: DocUpdate[] = [];
      const newerBody = fresh ? null : newerBodyOp(n);
      if (newerBody) ops.push(newerBody);
      const acked = after.state[i]!.ackedAtMs;
      const read = after.state[i]!.readAtMs;
      if (acked !== null && !(fresh && before[i]!.ackedAtMs !== null)) ops.push(deliveredOp(n.id, new Date(acked)));
      if (read !== null && !(fresh && before[i]!.readAtMs !== null)) ops.push(readOp(n.id, new Date(read)));
      return ops;
    });
    const advanced = await bulkWrite(model, advance, deps.config.persist.bulkMaxOps, deps.config.mongo.batchTimeoutMs);
    deps.metrics.bulkWrites.inc({ queue: 'persist' }, advanced.commands);
  } catch (err) {
    if (err instanceof TransientError) throw err;
    // Past MONGO_QUERY_TIMEOUT_MS the batch is retried later like any failed write (nothing acked
    // before it is stored); the typed error only says why in the log.
    throw (
      mongoUnavailable(err) ?? new TransientError(`mongodb: bulk write failed: ${errorMessage(err)}`, { cause: err })
    );
  }

  try {
    // Redis and MongoDB calls only for users the counters put over the cap.
    await enforceCap(
      { redis: deps.redis, model, metrics: deps.metrics },
      counters,
      deps.config.persist.maxStoredPerUser,
    );
  } catch (err) {
    // The write itself is done and the batch is retried like any failed one. Its replay inserts
    // nothing, so it counts no one and checks no one: a user this step skipped is checked with
    // their next insert (their counter is still over the cap, their threshold unchanged).
    throw new TransientError(`after-write steps failed: ${errorMessage(err)}`, { cause: err });
  }
}

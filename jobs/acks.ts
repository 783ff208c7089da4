import type { Redis } from '../shared/redis.js';
import { unpersistedIds } from '../shared/buffer.js';
import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import type { AckBatchMessage } from '../shared/messages.js';
import type { Models } from '../shared/models/index.js';
import { mongoUnavailable } from '../shared/mongo.js';
import { deliveredOp } from '../shared/models/notification-state.js';
import { bulkWrite } from './bulk-write.js';
import type { JobsMetrics } from './metrics.js';

export interface AckDeps {
  redis: Redis;
  models: Models;
  metrics: JobsMetrics;
  config: Pick<Config, 'persist' | 'mongo'>;
}

/**
 * Moves stored notifications to delivered. An ack for a notification not stored yet is left
 * to its persist job, which reads the `acked:{id}` mark after clearing the `unpersisted` one and
 * stores or advances it as delivered (jobs/persist.ts). ws-servers do not even publish those;
 * the check here covers the ones that still arrive (an older ws-server, an aggregate's newer
 * version marked again). The filter names the owner too, so an ack can only touch its own
 * user's notification, and the version the ack settled when the message carries it (a grown
 * aggregate stored after an ack of its old version stays undelivered). Idempotent: each update
 * is guarded by the status it leaves, so a redelivered batch, or an id acked twice, matches
 * nothing the second time.
 * One Redis request per batch (the unpersisted marks), then one bulk write.
 */
export async function applyAcks(deps: AckDeps, messages: AckBatchMessage[]): Promise<void> {
  // The same ack twice in one batch (two devices, a retried frame): the first one is kept. Keyed
  // by owner too, so an ack naming another user's id cannot hide the owner's.
  // Of the same id acked at two versions, the higher one: it covers the lower.
  const acks = new Map<string, { id: string; userId: string; ackedAt: string; version?: number }>();
  for (const m of messages) {
    m.notificationIds.forEach((id, i) => {
      const key = `${m.userId}\n${id}`;
      const version = m.versions?.[i];
      const seen = acks.get(key);
      if (!seen) acks.set(key, { id, userId: m.userId, ackedAt: m.ackedAt, version });
      else if (seen.version !== undefined && (version === undefined || version > seen.version)) seen.version = version;
    });
  }
  if (acks.size === 0) return;
  const all = [...acks.values()];
  let leftToPersist: Set<string>;
  try {
    leftToPersist = await unpersistedIds(deps.redis, all);
  } catch (err) {
    throw new TransientError(`redis: cannot read unpersisted marks: ${errorMessage(err)}`, { cause: err });
  }
  deps.metrics.acksLeftToPersist.inc(all.filter((a) => leftToPersist.has(a.id)).length);
  const ops = all
    .filter((a) => !leftToPersist.has(a.id))
    .map((a) => deliveredOp(a.id, new Date(a.ackedAt), a.userId, a.version));
  if (ops.length === 0) return;
  try {
    const outcome = await bulkWrite(
      deps.models.Notification,
      ops,
      deps.config.persist.bulkMaxOps,
      deps.config.mongo.batchTimeoutMs,
    );
    deps.metrics.bulkWrites.inc({ queue: 'acks' }, outcome.commands);
    deps.metrics.acksApplied.inc(outcome.modified);
  } catch (err) {
    throw (
      mongoUnavailable(err) ??
      new TransientError(`mongodb: ack bulk write failed: ${errorMessage(err)}`, { cause: err })
    );
  }
}

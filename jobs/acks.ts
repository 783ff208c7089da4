import type { Redis } from 'ioredis';
import { unpersistedIds } from '../shared/buffer.js';
import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import type { AckMessage } from '../shared/messages.js';
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
 * user's notification.
 */
export async function applyAcks(deps: AckDeps, acks: AckMessage[]): Promise<void> {
  if (acks.length === 0) return;
  let leftToPersist: Set<string>;
  try {
    leftToPersist = await unpersistedIds(deps.redis, acks.map((a) => a.notificationId));
  } catch (err) {
    throw new TransientError(`redis: cannot read unpersisted marks: ${errorMessage(err)}`, { cause: err });
  }
  deps.metrics.acksLeftToPersist.inc(leftToPersist.size);
  const ops = acks
    .filter((a) => !leftToPersist.has(a.notificationId))
    .map((a) => ({ updateOne: deliveredOp(a.notificationId, new Date(a.ackedAt), a.userId) }));
  if (ops.length === 0) return;
  try {
    const outcome = await bulkWrite(deps.models.Notification, ops, deps.config.persist.bulkMaxOps, deps.config.mongo.batchTimeoutMs);
    deps.metrics.bulkWrites.inc({ queue: 'acks' }, outcome.commands);
    deps.metrics.acksApplied.inc(outcome.modified);
  } catch (err) {
    throw mongoUnavailable(err) ?? new TransientError(`mongodb: ack bulk write failed: ${errorMessage(err)}`, { cause: err });
  }
}

import type { Config } from '../shared/config.js';
import { TransientError, errorMessage } from '../shared/errors.js';
import type { AckMessage } from '../shared/messages.js';
import type { Models } from '../shared/models/index.js';
import { deliveredOp } from '../shared/models/notification-state.js';
import { bulkWrite } from './bulk-write.js';
import type { JobsMetrics } from './metrics.js';

export interface AckDeps {
  models: Models;
  metrics: JobsMetrics;
  config: Pick<Config, 'persist'>;
}

/**
 * Moves stored notifications to delivered. An ack for a notification not stored yet changes
 * nothing here: its `acked:{id}` mark in Redis makes the persist job store it as delivered.
 * The filter names the owner too, so an ack can only touch its own user's notification.
 */
export async function applyAcks(deps: AckDeps, acks: AckMessage[]): Promise<void> {
  if (acks.length === 0) return;
  const ops = acks.map((a) => ({ updateOne: deliveredOp(a.notificationId, new Date(a.ackedAt), a.userId) }));
  try {
    const outcome = await bulkWrite(deps.models.Notification, ops, deps.config.persist.bulkMaxOps);
    deps.metrics.bulkWrites.inc({ queue: 'acks' }, outcome.commands);
    deps.metrics.acksApplied.inc(outcome.modified);
  } catch (err) {
    throw new TransientError(`mongodb: ack bulk write failed: ${errorMessage(err)}`, { cause: err });
  }
}

import type { Redis } from 'ioredis';
import { readNotifications } from '../../shared/buffer.js';
import { keys } from '../../shared/keys.js';
import type { Models } from '../../shared/models/index.js';
import { readAllOp, readOp } from '../../shared/models/notification-state.js';
import { recordStage } from '../../shared/timeline.js';

export interface ReadDeps {
  models: Models;
  redis: Redis;
  ttlSeconds: number;
}

export type ReadOutcome = { found: false } | { found: true; id: string; status: 'read'; readAt: string };

/**
 * Marks one notification read. `userId` (the caller) scopes the lookup so another user's id is
 * simply not found. A notification still in its persist delay exists only in Redis: the read is
 * remembered there and jobs stores it as read, so reading right after delivery is never lost.
 */
export async function markRead(deps: ReadDeps, id: string, userId: string | undefined, now = new Date()): Promise<ReadOutcome> {
  const owner = userId === undefined ? {} : { userId };
  const op = readOp(id, now, userId);
  await deps.models.Notification.updateOne(op.filter, op.update);
  const stored = await deps.models.Notification.findOne({ _id: id, ...owner }, { status: 1, readAt: 1 }).lean();
  if (stored) {
    await recordStage(deps.redis, id, 'read', deps.ttlSeconds, stored.readAt?.getTime() ?? now.getTime());
    return { found: true, id, status: 'read', readAt: (stored.readAt ?? now).toISOString() };
  }
  const [buffered] = await readNotifications(deps.redis, [id]);
  if (!buffered || (userId !== undefined && buffered.userId !== userId)) return { found: false };
  // NX: the first read wins, as in MongoDB.
  await deps.redis.set(keys.readBeforeStored(id), String(now.getTime()), 'EX', deps.ttlSeconds, 'NX');
  const at = Number(await deps.redis.get(keys.readBeforeStored(id))) || now.getTime();
  // jobs may have stored it between the lookup and the mark: advance it there too.
  const late = readOp(id, new Date(at), buffered.userId);
  await deps.models.Notification.updateOne(late.filter, late.update);
  await recordStage(deps.redis, id, 'read', deps.ttlSeconds, at);
  return { found: true, id, status: 'read', readAt: new Date(at).toISOString() };
}

export async function markAllRead(models: Models, userId: string, now = new Date()): Promise<number> {
  const op = readAllOp(userId, now);
  const result = await models.Notification.updateMany(op.filter, op.update);
  return result.modifiedCount;
}

import type { Redis } from '../../shared/redis.js';
import { findBufferedOwner, readNotifications } from '../../shared/buffer.js';
import type { Models } from '../../shared/models/index.js';
import { readTimeline, TIMELINE_STAGES, type TimelineStage } from '../../shared/timeline.js';

export type Timeline = { id: string; userId: string; status: string; stages: Record<TimelineStage, string | null> };

/**
 * When a notification was accepted, buffered, sent, acked, persisted and read. The pipeline's
 * own records in Redis (by notification id; by its events' ids for an older `accepted`) come first;
 * MongoDB's timestamps fill what Redis has forgotten. Scoped to the caller: another user's
 * notification is not found. Without a caller (dev mode) the owner of a notification only the
 * buffer holds is looked for by id (shared/buffer.ts findBufferedOwner).
 */
export async function timelineOf(
  models: Models,
  redis: Redis,
  keyPrefix: string,
  id: string,
  userId: string | undefined,
): Promise<Timeline | null> {
  const owner = userId === undefined ? {} : { userId };
  const stored = await models.Notification.findOne({ _id: id, ...owner }).lean();
  const user = stored?.userId ?? userId ?? (await findBufferedOwner(redis, keyPrefix, id));
  if (user === undefined) return null;
  const [buffered] = stored ? [null] : await readNotifications(redis, user, [id]);
  if (!stored && (!buffered || buffered.userId !== user)) return null;
  const eventIds = stored?.eventIds ?? buffered?.eventIds ?? [];

  // Every stage lives under the user's tag. The consumer records 'accepted' on the notification's
  // own key; one committed by an earlier release has it on its events' keys instead, read then.
  const own = await readTimeline(redis, user, id);
  const events = own.accepted === undefined ? await Promise.all(eventIds.map((e) => readTimeline(redis, user, e))) : [];
  const acceptedTimes = events.map((e) => e.accepted).filter((t): t is number => t !== undefined);
  const fromMongo: Partial<Record<TimelineStage, number>> = {
    acked: stored?.deliveredAt?.getTime(),
    persisted: stored?.persistedAt.getTime(),
    read: stored?.readAt?.getTime(),
  };
  const merged: Partial<Record<TimelineStage, number>> = {
    ...(acceptedTimes.length > 0 ? { accepted: Math.min(...acceptedTimes) } : {}),
  };
  for (const stage of TIMELINE_STAGES) {
    const at = own[stage] ?? fromMongo[stage] ?? merged[stage];
    if (at !== undefined) merged[stage] = at;
  }
  return {
    id,
    userId: stored?.userId ?? buffered?.userId ?? '',
    status: stored?.status ?? 'buffered',
    stages: Object.fromEntries(
      TIMELINE_STAGES.map((s) => [s, merged[s] === undefined ? null : new Date(merged[s]).toISOString()]),
    ) as Record<TimelineStage, string | null>,
  };
}

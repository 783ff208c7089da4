import { keys } from './keys.js';
import type { Redis } from './redis.js';

/**
 * What the pipeline records about one event or notification, for
 * `GET /notifications/:id/timeline`. Each stage records its own moment; the first time a stage
 * happens is kept (HSETNX), so a redelivery or a retried job does not rewrite history.
 * Stages of a notification are keyed by notification id, its 'accepted' being the earliest of
 * its events' (consumer/commit.lua). An event that becomes no notification (suppressed, or a
 * self-notification) keeps its stages under its eventId. Both under the (recipient) user's hash
 * tag (shared/keys.ts).
 */
export const TIMELINE_STAGES = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'] as const;
/** Stages only an event can reach: its recipient's preferences suppressed it (consumer/preferences.ts). */
export const EVENT_ONLY_STAGES = ['suppressed'] as const;
export type TimelineStage = (typeof TIMELINE_STAGES)[number] | (typeof EVENT_ONLY_STAGES)[number];

/** Kept as long as the buffer keeps notifications; MongoDB's timestamps outlive it. */
export async function recordStage(
  redis: Redis,
  userId: string,
  id: string,
  stage: TimelineStage,
  ttlSeconds: number,
  atMs = Date.now(),
): Promise<void> {
  const key = keys.timeline(userId, id);
  await redis.multi().hsetnx(key, stage, String(atMs)).expire(key, ttlSeconds).exec();
}

export async function readTimeline(
  redis: Redis,
  userId: string,
  id: string,
): Promise<Partial<Record<TimelineStage, number>>> {
  const raw = await redis.hgetall(keys.timeline(userId, id));
  return Object.fromEntries(
    Object.entries(raw)
      .filter(([stage]) => ([...TIMELINE_STAGES, ...EVENT_ONLY_STAGES] as readonly string[]).includes(stage))
      .map(([s, v]) => [s, Number(v)]),
  );
}

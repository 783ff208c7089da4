import type { Redis } from 'ioredis';
import { keys } from './keys.js';

/**
 * What the pipeline records about one event or notification, for
 * `GET /notifications/:id/timeline`. Each stage records its own moment; the first time a stage
 * happens is kept (HSETNX), so a redelivery or a retried job does not rewrite history.
 * Stages of an event are keyed by eventId, stages of a notification by notification id.
 */
export const TIMELINE_STAGES = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'] as const;
/** Stages only an event can reach: its recipient's preferences suppressed it (consumer/preferences.ts). */
export const EVENT_ONLY_STAGES = ['suppressed'] as const;
export type TimelineStage = (typeof TIMELINE_STAGES)[number] | (typeof EVENT_ONLY_STAGES)[number];

/** Kept as long as the buffer keeps notifications; MongoDB's timestamps outlive it. */
export async function recordStage(
  redis: Redis,
  id: string,
  stage: TimelineStage,
  ttlSeconds: number,
  atMs = Date.now(),
): Promise<void> {
  await redis.multi().hsetnx(keys.timeline(id), stage, String(atMs)).expire(keys.timeline(id), ttlSeconds).exec();
}

export async function readTimeline(redis: Redis, id: string): Promise<Partial<Record<TimelineStage, number>>> {
  const raw = await redis.hgetall(keys.timeline(id));
  return Object.fromEntries(
    Object.entries(raw).filter(([stage]) => ([...TIMELINE_STAGES, ...EVENT_ONLY_STAGES] as readonly string[]).includes(stage)).map(([s, v]) => [s, Number(v)]),
  );
}

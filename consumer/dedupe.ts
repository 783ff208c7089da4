import { createHash } from 'node:crypto';
import type { ExtraMark } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { categoryOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import { objectIdOf } from '../shared/schemas/event.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * Two dedupe rules.
 *
 * eventId: an event turns into at most one notification. The mark is written in the same
 * MULTI as the buffered notification and holds that notification's id, so finding it means
 * "already buffered, here is what it became" — never "someone started and maybe crashed".
 *
 * Action: the same (type, actor, recipient, object) inside ACTION_DEDUPE_WINDOW_MS notifies
 * once, even when the copies carry different eventIds and are processed concurrently. The
 * claim is an atomic SET NX whose value is the claiming eventId, so a redelivery of the
 * event that owns the claim (after a crash or a retry) is never mistaken for a duplicate.
 * Transactional events are exempt: two order updates are two facts, and their retries are
 * already covered by the eventId rule.
 */
export interface DedupeWindows {
  eventWindowSeconds: number;
  actionWindowMs: number;
}

/** The id of the notification this event already produced, or null. */
export async function producedNotificationId(redis: Redis, eventId: string): Promise<string | null> {
  return redis.get(keys.eventSeen(eventId));
}

export function actionFingerprint(event: ParsedEvent): string | null {
  if (categoryOf(event.type) === 'transactional') return null;
  const parts = [event.type, event.actorId ?? '', event.targetId, objectIdOf(event) ?? ''];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/** True when another event already claimed this action inside the window. */
export async function isDuplicateAction(redis: Redis, event: ParsedEvent, windowMs: number): Promise<boolean> {
  const fingerprint = actionFingerprint(event);
  if (fingerprint === null) return false;
  const key = keys.actionSeen(fingerprint);
  const claimed = await redis.set(key, event.eventId, 'PX', windowMs, 'NX');
  if (claimed === 'OK') return false;
  const owner = await redis.get(key);
  // Expired between the two calls: nobody else owns the action now, so this one may proceed.
  return owner !== null && owner !== event.eventId;
}

/** Marks committed atomically with the buffered notification. */
export function dedupeMarks(event: ParsedEvent, notificationId: string, windows: DedupeWindows): ExtraMark[] {
  const marks: ExtraMark[] = [
    { key: keys.eventSeen(event.eventId), ttlMs: windows.eventWindowSeconds * 1000, value: notificationId },
  ];
  const fingerprint = actionFingerprint(event);
  if (fingerprint !== null) {
    marks.push({ key: keys.actionSeen(fingerprint), ttlMs: windows.actionWindowMs, value: event.eventId });
  }
  return marks;
}

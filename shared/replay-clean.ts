import type { Redis } from './redis.js';
import { keys } from './keys.js';

/*
 * The "replay clean" mark lets AUTH skip MongoDB. MongoDB holds an undelivered notification
 * that Redis does not only after its buffered copy expired (BUFFER_TTL_SECONDS after buffering)
 * or Redis lost it. Every copy gets the same TTL when buffered (an aggregate's is renewed, so it
 * only lasts longer), so once a MongoDB check found nothing missing, nothing can go missing
 * before the oldest pending copy expires, and later notifications expire later still. Until
 * then AUTH costs Redis reads only; a reconnect storm never reaches MongoDB.
 *
 * Losing data in Redis is the other way a copy goes missing: jobs clears the mark when it stores
 * an undelivered notification whose copy is already gone, and a lost mark means "check".
 */

/** `oldestPendingAtMs`: null when nothing is pending; undefined when not all pending were read. */
export async function markReplayClean(
  redis: Redis,
  userId: string,
  oldestPendingAtMs: number | null | undefined,
  bufferTtlSeconds: number,
): Promise<void> {
  if (oldestPendingAtMs === undefined) return; // more pending than were read: no safe bound
  const cleanUntilMs = (oldestPendingAtMs ?? Date.now()) + bufferTtlSeconds * 1000;
  if (cleanUntilMs <= Date.now()) return;
  await redis.set(keys.replayClean(userId), '1', 'PXAT', cleanUntilMs);
}

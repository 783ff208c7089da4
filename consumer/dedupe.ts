import { createHash } from 'node:crypto';
import { factsOf, objectIdOf } from '../shared/event-types.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * Two dedupe rules.
 *
 * Both are applied inside the commit script (consumer/commit.lua); this file holds their keys.
 *
 * eventId: an event turns into at most one notification. The mark is written in the same
 * script call as the buffered notification and holds that notification's id, so finding it means
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

export function actionFingerprint(event: ParsedEvent): string | null {
  if (factsOf(event.type).exempt.actionDedupe) return null;
  const parts = [event.type, event.actorId ?? '', event.targetId, objectIdOf(event) ?? ''];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

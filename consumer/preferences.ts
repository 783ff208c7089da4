import { categoryOf } from '../shared/priority.js';
import { factsOf } from '../shared/event-types.js';
import { doNotDisturbHoldsUntil, type Preferences, type PreferenceStore } from '../shared/preferences.js';
import type { EventType } from '../shared/schemas/event.js';

/**
 * What the recipient's preferences make of an event, decided before anything is buffered:
 * - muted type, or a promotion to a user who opted out → suppressed (nothing is buffered; the
 *   event's timeline records `suppressed`, consumer_events_suppressed_total counts it);
 * - social or promotional during do-not-disturb → buffered now, pushed when the window ends
 *   (the wake-up waits in the broker, see consumer/delayed-wake.ts);
 * - transactional → always delivered at once.
 */
export type PreferenceDecision =
  | { action: 'deliver' }
  | { action: 'suppress'; reason: 'muted' | 'promotional_opt_out' }
  | { action: 'hold'; untilMs: number };

/**
 * The decisions of a batch: one read of every recipient's preferences that matter (types exempt
 * from preferences read nothing), then the same rule for each.
 */
export async function decideMany(
  store: Pick<PreferenceStore, 'readMany'>,
  items: Array<{ userId: string; type: EventType }>,
  nowMs = Date.now(),
): Promise<PreferenceDecision[]> {
  const prefs = await store.readMany(items.filter((i) => !factsOf(i.type).exempt.preferences).map((i) => i.userId));
  return items.map((i) => {
    const p = prefs.get(i.userId);
    return p === undefined ? { action: 'deliver' } : decideWith(p, i.type, nowMs);
  });
}

/** The rule itself, over preferences already read. */
function decideWith(prefs: Preferences, type: EventType, nowMs: number): PreferenceDecision {
  const category = categoryOf(type);
  if (factsOf(type).exempt.preferences) return { action: 'deliver' };
  if (prefs.mutedTypes.includes(type)) return { action: 'suppress', reason: 'muted' };
  if (category === 'promotional' && prefs.promotionalOptOut)
    return { action: 'suppress', reason: 'promotional_opt_out' };
  const until = doNotDisturbHoldsUntil(prefs, type, nowMs);
  return until === null ? { action: 'deliver' } : { action: 'hold', untilMs: until };
}

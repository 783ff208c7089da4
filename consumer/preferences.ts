import { categoryOf } from '../shared/priority.js';
import { doNotDisturbHoldsUntil, type PreferenceStore } from '../shared/preferences.js';
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

export async function decide(store: PreferenceStore, userId: string, type: EventType, nowMs = Date.now()): Promise<PreferenceDecision> {
  const category = categoryOf(type);
  if (category === 'transactional') return { action: 'deliver' };
  const prefs = await store.read(userId);
  if (prefs.mutedTypes.includes(type)) return { action: 'suppress', reason: 'muted' };
  if (category === 'promotional' && prefs.promotionalOptOut) return { action: 'suppress', reason: 'promotional_opt_out' };
  const until = doNotDisturbHoldsUntil(prefs, type, nowMs);
  return until === null ? { action: 'deliver' } : { action: 'hold', untilMs: until };
}

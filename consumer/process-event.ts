import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Topology } from '../shared/amqp/topology.js';
import { readNotifications } from '../shared/buffer.js';
import type { Logger } from '../shared/logger.js';
import { categoryOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import type { PreferenceStore } from '../shared/preferences.js';
import { recordStage } from '../shared/timeline.js';
import { isDuplicateAction, producedNotificationId, type DedupeWindows } from './dedupe.js';
import { composeAndBuffer } from './compose.js';
import { handOff } from './hand-off.js';
import type { ConsumerMetrics, Outcome } from './metrics.js';
import type { ParsedEvent } from './parse-event.js';
import { decide } from './preferences.js';
import type { RateLimiter } from './rate-limit.js';
import type { UserNames } from './user-names.js';

export interface ProcessDeps {
  redis: Redis;
  channel: ChannelWrapper;
  topology: Topology;
  limiter: RateLimiter;
  names: UserNames;
  metrics: ConsumerMetrics;
  logger: Logger;
  windows: DedupeWindows;
  bufferTtlSeconds: number;
  aggregationWindowMs: number;
  preferences: PreferenceStore;
}

/**
 * One event, in the order docs/pipeline.md explains: self → eventId dedupe → action dedupe →
 * rate limit → preferences → aggregate → format → seq → buffer (with the dedupe marks and the
 * unread count, atomically) → persist job → wake (now, or when do-not-disturb ends) → timeline. Resolving means the event may be acked; any error means it may not.
 */
export async function processEvent(deps: ProcessDeps, event: ParsedEvent, acceptedAtMs?: number): Promise<Outcome> {
  const { redis } = deps;
  // The producer stamps each event when it hands it to the broker; the timeline keys it by
  // eventId so every outcome (buffered, limited, suppressed, duplicate) shows when it came in.
  if (categoryOf(event.type) === 'social' && event.actorId === event.targetId) {
    if (acceptedAtMs !== undefined) await recordStage(redis, event.eventId, 'accepted', deps.bufferTtlSeconds, acceptedAtMs);
    return 'self';
  }
  // Independent round trips go out together: each sequential one adds to every event's latency
  // (docs/performance.md). The action claim is harmless for an event produced before: its own
  // claim, or one that no longer matters because that event returns 'duplicate' first.
  const [producedId, duplicateAction] = await Promise.all([
    producedNotificationId(redis, event.eventId),
    isDuplicateAction(redis, event, deps.windows.actionWindowMs),
    acceptedAtMs === undefined ? undefined : recordStage(redis, event.eventId, 'accepted', deps.bufferTtlSeconds, acceptedAtMs),
  ]);
  if (producedId !== null) {
    // Buffered before, but the hand-off may not have happened (a crash before the ack):
    // repeat it. If the buffered copy expired, it was persisted long ago.
    const [buffered] = await readNotifications(redis, [producedId]);
    if (buffered) await handOff(deps, buffered);
    return 'duplicate';
  }
  if (duplicateAction) return 'duplicate';

  // The preferences read does not depend on the limits; a limited event just ignores it.
  const [hit, decision] = await Promise.all([
    deps.limiter.check(event),
    decide(deps.preferences, event.targetId, event.type),
  ]);
  if (hit) {
    deps.metrics.limited.inc({ scope: hit.scope });
    deps.logger.info({ eventId: event.eventId, scope: hit.scope, key: hit.key, type: event.type }, 'event rate limited');
    return 'limited';
  }
  if (decision.action === 'suppress') {
    deps.metrics.suppressed.inc({ reason: decision.reason });
    await recordStage(redis, event.eventId, 'suppressed', deps.bufferTtlSeconds);
    return 'suppressed';
  }
  const notification = await composeAndBuffer(deps, event);
  await Promise.all([
    handOff(deps, notification, decision.action === 'hold' ? decision.untilMs : undefined),
    recordStage(redis, notification.id, 'buffered', deps.bufferTtlSeconds),
  ]);
  deps.logger.debug({ eventId: event.eventId, notificationId: notification.id, userId: notification.userId }, 'notification buffered');
  if (acceptedAtMs !== undefined) deps.metrics.bufferSeconds.observe(Math.max(0, Date.now() - acceptedAtMs) / 1000);
  return 'buffered';
}

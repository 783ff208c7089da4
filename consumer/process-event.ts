import type { ChannelWrapper } from 'amqp-connection-manager';
import { v7 as uuidv7 } from 'uuid';
import type { Topology } from '../shared/amqp/topology.js';
import { bufferNotification, nextSeq, readNotifications } from '../shared/buffer.js';
import type { Logger } from '../shared/logger.js';
import type { Notification } from '../shared/notification.js';
import { categoryOf, priorityOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import { objectIdOf } from '../shared/schemas/event.js';
import { recordStage } from '../shared/timeline.js';
import { dedupeMarks, isDuplicateAction, producedNotificationId, type DedupeWindows } from './dedupe.js';
import { formatMessage, namesNeeded } from './format.js';
import { handOff } from './hand-off.js';
import type { ConsumerMetrics, Outcome } from './metrics.js';
import type { ParsedEvent } from './parse-event.js';
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
}

/**
 * One event, in the order docs/pipeline.md explains: self → eventId dedupe → action dedupe →
 * rate limit → priority → format → seq → buffer (with the dedupe marks, atomically) → persist
 * job → wake → timeline. Resolving means the event may be acked; any error means it may not.
 */
export async function processEvent(deps: ProcessDeps, event: ParsedEvent, acceptedAtMs?: number): Promise<Outcome> {
  const { redis } = deps;
  if (categoryOf(event.type) === 'social' && event.actorId === event.targetId) return 'self';

  const producedId = await producedNotificationId(redis, event.eventId);
  if (producedId !== null) {
    // Buffered before, but the hand-off may not have happened (a crash before the ack):
    // repeat it. If the buffered copy expired, it was persisted long ago.
    const [buffered] = await readNotifications(redis, [producedId]);
    if (buffered) await handOff(deps.channel, deps.topology, buffered);
    return 'duplicate';
  }

  if (await isDuplicateAction(redis, event, deps.windows.actionWindowMs)) return 'duplicate';

  const hit = await deps.limiter.check(event);
  if (hit) {
    deps.metrics.limited.inc({ scope: hit.scope });
    deps.logger.info({ scope: hit.scope, key: hit.key, type: event.type }, 'event rate limited');
    return 'limited';
  }

  const nameOf = await deps.names.resolve(namesNeeded(event));
  const notification: Notification = {
    id: uuidv7(),
    userId: event.targetId,
    seq: await nextSeq(redis, event.targetId),
    type: event.type,
    priority: priorityOf(event.type),
    actors: event.actorId !== undefined ? [event.actorId] : [],
    actorCount: event.actorId !== undefined ? 1 : 0,
    objectId: objectIdOf(event),
    message: formatMessage(event, nameOf),
    createdAt: new Date().toISOString(),
    version: 1,
    eventIds: [event.eventId],
  };
  await bufferNotification(redis, notification, deps.bufferTtlSeconds, dedupeMarks(event, notification.id, deps.windows));
  await handOff(deps.channel, deps.topology, notification);
  await recordStage(redis, notification.id, 'buffered', deps.bufferTtlSeconds);
  if (acceptedAtMs !== undefined) deps.metrics.bufferSeconds.observe(Math.max(0, Date.now() - acceptedAtMs) / 1000);
  return 'buffered';
}

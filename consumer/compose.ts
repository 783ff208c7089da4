import { v7 as uuidv7 } from 'uuid';
import { bufferNotification, nextSeq, readNotifications } from '../shared/buffer.js';
import type { Notification } from '../shared/notification.js';
import { priorityOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import { objectIdOf } from '../shared/schemas/event.js';
import { foldIntoWindow, isAggregatable } from './aggregation.js';
import { dedupeMarks, type DedupeWindows } from './dedupe.js';
import { formatAggregateMessage, formatMessage, namesNeeded } from './format.js';
import type { ParsedEvent } from './parse-event.js';
import type { UserNames } from './user-names.js';

export interface ComposeDeps {
  redis: Redis;
  names: UserNames;
  windows: DedupeWindows;
  bufferTtlSeconds: number;
  aggregationWindowMs: number;
}

/**
 * Turns an event into the notification version it contributes to and commits it to the buffer:
 * a new notification, or the next version of the aggregate whose window it falls in (same id,
 * new seq so a `lastSeq` resume sees the update). Returns what the buffer holds afterwards,
 * which is the version to hand off (a concurrent consumer may already have committed a newer one).
 */
export async function composeAndBuffer(deps: ComposeDeps, event: ParsedEvent): Promise<Notification> {
  const { redis } = deps;
  const objectId = objectIdOf(event);
  const base = {
    userId: event.targetId,
    type: event.type,
    priority: priorityOf(event.type),
    objectId,
  };
  let notification: Notification;
  if (isAggregatable(event.type, objectId, event.actorId) && objectId !== null && event.actorId !== undefined) {
    const fold = {
      userId: event.targetId,
      type: event.type,
      objectId,
      actorId: event.actorId,
      eventId: event.eventId,
      candidateId: uuidv7(),
      createdAt: new Date().toISOString(),
    };
    // The seq does not depend on the window, so both round trips go out together; a seq taken
    // for a version that ends up stale is a gap, and seq is increasing, not contiguous (docs/pipeline.md).
    const [window, seq] = await Promise.all([
      foldIntoWindow(redis, fold, deps.aggregationWindowMs),
      nextSeq(redis, event.targetId),
    ]);
    const nameOf = await deps.names.resolve(window.actors.slice(0, 2));
    notification = {
      ...base,
      id: window.id,
      seq,
      actors: window.actors,
      actorCount: window.actorCount,
      message:
        window.actorCount <= 1
          ? formatMessage(event, nameOf)
          : formatAggregateMessage(event.type, window.actors.map(nameOf), window.actorCount),
      createdAt: window.createdAt,
      version: window.actorCount,
      eventIds: window.eventIds,
    };
  } else {
    const [nameOf, seq] = await Promise.all([deps.names.resolve(namesNeeded(event)), nextSeq(redis, event.targetId)]);
    notification = {
      ...base,
      id: uuidv7(),
      seq,
      actors: event.actorId !== undefined ? [event.actorId] : [],
      actorCount: event.actorId !== undefined ? 1 : 0,
      message: formatMessage(event, nameOf),
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: [event.eventId],
    };
  }
  const outcome = await bufferNotification(redis, notification, deps.bufferTtlSeconds, dedupeMarks(event, notification.id, deps.windows));
  if (outcome !== 'stale') return notification;
  const [buffered] = await readNotifications(redis, [notification.id]);
  return buffered ?? notification;
}

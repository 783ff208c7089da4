import type { Redis } from '../shared/redis.js';
import { readNotifications } from '../shared/buffer.js';
import { errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import type { PushWakeMessage, WakeExchangeMessage, WakeMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import type { Delivery } from './delivery.js';
import type { WsMetrics } from './metrics.js';
import type { ConnectionRegistry } from './registry.js';
import type { Session } from './session.js';
import { announceUnread, type UnreadReader } from './unread.js';

export interface PushDeps {
  redis: Redis;
  registry: ConnectionRegistry;
  delivery: Delivery;
  readUnread: UnreadReader;
}

/**
 * Handles each wake of the instance's channel (wake.ts). Pub/sub has no retry: a wake whose Redis
 * read fails is logged and dropped, and its notifications come with redelivery or the next replay.
 * Every wake is counted: one for a user with no socket here any more (the route still listed this
 * instance: a close racing the publish, or an entry left to expire) is `dropped`.
 */
export function wakeHandler(
  deps: PushDeps,
  track: <T>(work: Promise<T>) => Promise<T>,
  metrics: Pick<WsMetrics, 'wakesReceived'>,
  logger: Logger,
): (message: WakeExchangeMessage) => void {
  return (message) => {
    metrics.wakesReceived.inc({
      outcome: liveSessions(deps.registry, message.userId).length > 0 ? 'handled' : 'dropped',
    });
    const work = onWakeMessage(deps, message);
    if (!work) return;
    track(work).catch((err: unknown) => {
      const notificationIds = 'notificationIds' in message ? firstIds(message.notificationIds) : undefined;
      logger.warn({ err: errorMessage(err), userId: message.userId, notificationIds }, 'wake-up not handled');
    });
  };
}

/**
 * One wake: a notification to push as it came, ids to read from the buffer first, or only a
 * changed unread count. A push wake is handled synchronously (no promise), the others are not.
 */
export function onWakeMessage(deps: PushDeps, message: WakeExchangeMessage): Promise<void> | undefined {
  if (message.kind === 'unread') return announceUnread(deps.registry, deps.readUnread, message.userId);
  if (message.kind === 'push') return pushBody(deps, message);
  return pushWake(deps, message);
}

/** The user's sockets here that take pushes (one still reading its AUTH replay gets them after it). */
function liveSessions(registry: ConnectionRegistry, userId: string): Session[] {
  return registry.sessionsOf(userId).filter((s) => s.state === 'ready' || s.state === 'authenticating');
}

/**
 * A push wake: the consumer published it from inside the buffer commit, so its notification is
 * the committed version, pending at that moment, and its unread count is the one after that
 * commit: pushed without reading Redis. An ACK from another device racing the wake may make
 * this a duplicate of an acked id, which the client deduplicates like any redelivery. Without a
 * count (the counter is missing) the reader rebuilds it and an UNREAD frame follows.
 */
export function pushBody(deps: PushDeps, wake: PushWakeMessage): Promise<void> | undefined {
  const sessions = liveSessions(deps.registry, wake.userId);
  if (sessions.length === 0) return undefined;
  deps.delivery.pushToAll(sessions, [wake.notification], wake.unread);
  return wake.unread ? undefined : announceUnread(deps.registry, deps.readUnread, wake.userId);
}

/**
 * An ids-only wake (do-not-disturb wakes that came due): only what the buffer still holds as
 * pending for that user is pushed (an id acked meanwhile is never sent again), with the unread
 * count read once for the whole batch.
 */
export async function pushWake(deps: PushDeps, wake: WakeMessage): Promise<void> {
  const { redis, registry, delivery } = deps;
  if (liveSessions(registry, wake.userId).length === 0 || wake.notificationIds.length === 0) return;
  const ids = [...new Set(wake.notificationIds)];
  const [found, scores, unread] = await Promise.all([
    readNotifications(redis, wake.userId, ids),
    redis.zmscore(keys.inbox(wake.userId), ...ids),
    deps.readUnread(wake.userId),
  ]);
  const pending = found.filter(
    (n, i): n is Notification => n !== null && n.userId === wake.userId && scores[i] !== null,
  );
  delivery.pushToAll(liveSessions(registry, wake.userId), pending, unread);
}

import type { Redis, RedisConnection } from '../shared/redis.js';
import { subscribeOnOwnConnection } from '../shared/redis-subscription.js';
import { errorMessage, PermanentError } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { WakeExchangeMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import { WakeQueue } from './wake-queue.js';

/**
 * Routing of wake-ups: the consumer (and the producer, for unread changes) PUBLISH each wake on
 * the channel of every ws-server instance the user's route lists (shared/wake-channel.ts), and
 * each instance subscribes to its own channel on a connection of its own: an instance hears the
 * wakes of the users it holds, not everyone's. A push wake carries the notification and the
 * unread count, so pushing it costs this instance no Redis read.
 *
 * Pub/sub is at most once: what is published while the subscriber is disconnected is lost. So
 * when the subscription is back (ioredis re-subscribes by itself), `onResync` replays every
 * local socket's pending notifications from the buffer, the truth; a lost wake costs latency
 * only, as a wake lost anywhere else (AUTH replay and redelivery bring the rest).
 */

export interface WakeHandlers {
  onWake(message: WakeExchangeMessage): void;
  /** The subscription is active again after a disconnect: wakes may have been missed. */
  onResync(): void;
}

export interface WakeSubscription {
  /** CLIENT SETNAME of the subscriber connection, `ws-wake-<instanceId>` (tests kill it by name). */
  connectionName: string;
  close(): Promise<void>;
}

export async function subscribeToWakes(
  redis: Redis,
  keyPrefix: string,
  instanceId: string,
  handlers: WakeHandlers,
  logger: Logger,
): Promise<WakeSubscription> {
  // The legacy channel: publishers of the release before routing broadcast there, and only
  // there. Listening to it too lets ws-servers be deployed first with no wake lost while those
  // publishers still run; nothing of this release publishes on it, so it costs nothing.
  const channels = [keys.wakeChannel(keyPrefix, instanceId), keys.legacyWakeChannel(keyPrefix)];
  const connectionName = `ws-wake-${instanceId}`;
  const log = logger.child({ component: 'redis', connection: connectionName });
  // Set once subscribed; the queue pauses the connection's reading when it falls behind.
  const subscribed: { connection?: RedisConnection } = {};
  const queue = new WakeQueue(
    (raw) => {
      let wake: WakeExchangeMessage;
      try {
        wake = parseWake(raw);
      } catch (err) {
        // Never the payload: a wake carries a notification's text.
        log.warn({ err: errorMessage(err) }, 'malformed wake dropped');
        return;
      }
      handlers.onWake(wake);
    },
    { pause: () => subscribed.connection?.stream?.pause(), resume: () => subscribed.connection?.stream?.resume() },
  );
  const subscription = await subscribeOnOwnConnection(
    redis,
    connectionName,
    channels,
    {
      onMessage: (_channel, raw) => queue.push(raw),
      onRestored: () => {
        log.info('wake subscriber back; resyncing local sockets from the buffer');
        handlers.onResync();
      },
    },
    logger,
  ).catch((err: unknown) => {
    queue.close();
    throw err;
  });
  subscribed.connection = subscription.connection;
  return {
    connectionName,
    close: async () => {
      queue.close();
      subscription.close();
    },
  };
}

/**
 * A message without `kind` is a notification wake (published before kinds existed). Checked by
 * hand, not with Joi: every push goes through here. A push wake's notification must be the
 * wake's user's and carry what a NOTIFICATION frame shows.
 */
export function parseWake(content: string | Buffer): WakeExchangeMessage {
  let body: unknown;
  try {
    body = JSON.parse(typeof content === 'string' ? content : content.toString('utf8'));
  } catch {
    throw new PermanentError('wake-up is not JSON');
  }
  const wake = body as {
    kind?: unknown;
    userId?: unknown;
    notificationIds?: unknown;
    notification?: unknown;
    unread?: unknown;
  } | null;
  if (typeof wake?.userId !== 'string') throw new PermanentError('wake-up lacks userId');
  if (wake.kind === 'unread') return { kind: 'unread', userId: wake.userId };
  if (wake.kind === 'push') {
    if (!isNotificationOf(wake.notification, wake.userId))
      throw new PermanentError('push wake lacks a notification of its user');
    if (wake.unread === undefined) return { kind: 'push', userId: wake.userId, notification: wake.notification };
    const unread = wake.unread as { count?: unknown; version?: unknown } | null;
    if (typeof unread?.count !== 'number' || typeof unread.version !== 'number')
      throw new PermanentError('push wake has a malformed unread');
    return {
      kind: 'push',
      userId: wake.userId,
      notification: wake.notification,
      unread: { count: unread.count, version: unread.version },
    };
  }
  if (
    (wake.kind !== undefined && wake.kind !== 'notifications') ||
    !Array.isArray(wake.notificationIds) ||
    !wake.notificationIds.every((id) => typeof id === 'string')
  ) {
    throw new PermanentError('wake-up has an unknown kind or lacks notificationIds');
  }
  return { userId: wake.userId, notificationIds: wake.notificationIds as string[] };
}

function isNotificationOf(value: unknown, userId: string): value is Notification {
  const n = value as Partial<Record<keyof Notification, unknown>> | null;
  return (
    typeof n === 'object' &&
    n !== null &&
    n.userId === userId &&
    typeof n.id === 'string' &&
    typeof n.seq === 'number' &&
    typeof n.version === 'number' &&
    typeof n.type === 'string' &&
    typeof n.priority === 'number' &&
    typeof n.message === 'string' &&
    typeof n.createdAt === 'string' &&
    Array.isArray(n.actors) &&
    typeof n.actorCount === 'number' &&
    (typeof n.objectId === 'string' || n.objectId === null)
  );
}

import type { Redis } from 'ioredis';
import { readNotifications } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import type { WakeExchangeMessage, WakeMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import type { Delivery } from './delivery.js';
import type { ConnectionRegistry } from './registry.js';
import { announceUnread, type UnreadReader } from './unread.js';

export interface PushDeps {
  redis: Redis;
  registry: ConnectionRegistry;
  delivery: Delivery;
  readUnread: UnreadReader;
}

/** One message of the wake exchange: new notifications to push, or only a changed unread count. */
export async function onWakeMessage(deps: PushDeps, message: WakeExchangeMessage): Promise<void> {
  if (message.kind === 'unread') await announceUnread(deps.registry, deps.readUnread, message.userId);
  else if (message.kind === 'push') await pushWake(deps, { userId: message.userId, notificationIds: [message.notification.id] });
  else await pushWake(deps, message);
}

/**
 * Live push on a wake-up: only users with sockets here, only what the buffer still holds as
 * pending for that user (an id acked meanwhile is never sent again). A socket still reading its
 * AUTH replay gets them right after it. The unread count is read once for the whole batch.
 */
export async function pushWake(deps: PushDeps, wake: WakeMessage): Promise<void> {
  const { redis, registry, delivery } = deps;
  const sessions = registry.sessionsOf(wake.userId).filter((s) => s.state === 'ready' || s.state === 'authenticating');
  if (sessions.length === 0 || wake.notificationIds.length === 0) return;
  const ids = [...new Set(wake.notificationIds)];
  const [found, scores, unread] = await Promise.all([
    readNotifications(redis, ids),
    redis.zmscore(keys.inbox(wake.userId), ...ids),
    deps.readUnread(wake.userId),
  ]);
  const pending = found.filter((n, i): n is Notification => n !== null && n.userId === wake.userId && scores[i] !== null);
  for (const session of sessions) delivery.push(session, pending, unread);
}

import type { Redis } from 'ioredis';
import { readNotifications } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import type { WakeMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import type { Delivery } from './delivery.js';
import type { ConnectionRegistry } from './registry.js';

/**
 * Live push on a wake-up: only users with sockets here, only what the buffer still holds as
 * pending for that user (an id acked meanwhile is never sent again). A socket still reading its
 * AUTH replay gets them right after it.
 */
export async function pushWake(redis: Redis, registry: ConnectionRegistry, delivery: Delivery, wake: WakeMessage): Promise<void> {
  const sessions = registry.sessionsOf(wake.userId).filter((s) => s.state === 'ready' || s.state === 'authenticating');
  if (sessions.length === 0 || wake.notificationIds.length === 0) return;
  const ids = [...new Set(wake.notificationIds)];
  const [found, scores] = await Promise.all([readNotifications(redis, ids), redis.zmscore(keys.inbox(wake.userId), ...ids)]);
  const pending = found.filter((n, i): n is Notification => n !== null && n.userId === wake.userId && scores[i] !== null);
  for (const session of sessions) delivery.push(session, pending);
}

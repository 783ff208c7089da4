import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Redis } from 'ioredis';
import type { Topology } from '../shared/amqp/topology.js';
import { encodeJson, JSON_CONTENT_TYPE, type WakeMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import { publishWake } from '../shared/wake-channel.js';
import { scheduleWake } from './delayed-wake.js';

export interface HandOffDeps {
  channel: ChannelWrapper;
  topology: Topology;
  redis: Redis;
}

/**
 * What follows buffering, both idempotent so a redelivered event may run them again: the
 * delayed persist job (the whole notification; jobs insert it by id) and the wake-up for the
 * ws-servers — at once, on the Redis wake channel (shared/wake-channel.ts; ids only: the
 * ws-server reads the buffer), or at `holdUntilMs` when do-not-disturb holds it back. Both are
 * in flight together (neither depends on the other); it resolves when both are done.
 */
export async function handOff(deps: HandOffDeps, n: Notification, holdUntilMs?: number): Promise<void> {
  const { channel, topology, redis } = deps;
  const persistJob = channel.sendToQueue(topology.persistDelayQueue, encodeJson(n), {
    persistent: true,
    messageId: n.id,
    contentType: JSON_CONTENT_TYPE,
  });
  const wake: WakeMessage = { userId: n.userId, notificationIds: [n.id] };
  const wakeUp =
    holdUntilMs !== undefined && holdUntilMs > Date.now()
      ? scheduleWake(channel, topology, wake, holdUntilMs)
      : publishWake(redis, redis.options.keyPrefix ?? '', wake);
  await Promise.all([persistJob, wakeUp]);
}

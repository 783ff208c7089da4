import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { WAKE_DELAY_RUNGS_MS, type Topology } from '../shared/amqp/topology.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { encodeJson, JSON_CONTENT_TYPE, type DelayedWakeMessage, type WakeMessage } from '../shared/messages.js';
import type { Redis } from '../shared/redis.js';

/**
 * Wake-ups held back by do-not-disturb wait in the broker, never in this process: a message
 * hops down a ladder of TTL queues (topology.wakeDelayQueues) until its due time, then the wake
 * is published on the Redis wake channel. Each hop is confirmed before the previous copy is acked,
 * so a consumer that dies mid-wait loses nothing (at worst a wake is published twice, which the
 * ws-server deduplicates by id and version).
 */

/** The longest rung not beyond what is left, or the shortest one. */
function rungFor(topology: Topology, remainingMs: number): string {
  let index = 0;
  WAKE_DELAY_RUNGS_MS.forEach((ms, i) => {
    if (ms <= remainingMs) index = i;
  });
  return topology.wakeDelayQueues[index]!;
}

/** Schedules a wake for `dueAtMs`. */
export async function scheduleWake(channel: ChannelWrapper, topology: Topology, wake: WakeMessage, dueAtMs: number): Promise<void> {
  const body: DelayedWakeMessage = { ...wake, dueAtMs };
  await channel.sendToQueue(rungFor(topology, dueAtMs - Date.now()), encodeJson(body), {
    persistent: true,
    contentType: JSON_CONTENT_TYPE,
  });
}

/** A due wake: ids only, so the ws-server reads the buffer's current versions (the hold may have outlived older ones). */
export async function publishWake(redis: Redis, wakeChannel: string, wake: WakeMessage): Promise<void> {
  await redis.publish(wakeChannel, JSON.stringify(wake));
}

/** Consumes the ladder's exit: re-schedules what is early, publishes what is due. */
export async function consumeDueWakes(
  channel: ChannelWrapper,
  topology: Topology,
  redis: Redis,
  wakeChannel: string,
  logger: Logger,
): Promise<void> {
  await channel.consume(
    topology.wakeDueQueue,
    async (msg: ConsumeMessage) => {
      let body: DelayedWakeMessage;
      try {
        body = JSON.parse(msg.content.toString('utf8')) as DelayedWakeMessage;
        if (typeof body.userId !== 'string' || !Array.isArray(body.notificationIds) || typeof body.dueAtMs !== 'number') {
          throw new Error('not a delayed wake');
        }
      } catch (err) {
        // A held wake only speeds delivery up (the buffer and replay hold the truth): drop it.
        logger.warn({ err: errorMessage(err) }, 'malformed delayed wake dropped');
        channel.ack(msg);
        return;
      }
      try {
        const { dueAtMs, ...wake } = body;
        if (dueAtMs > Date.now()) await scheduleWake(channel, topology, wake, dueAtMs);
        else await publishWake(redis, wakeChannel, wake);
        channel.ack(msg);
      } catch (err) {
        logger.warn({ err: errorMessage(err), userId: body.userId, notificationIds: firstIds(body.notificationIds) }, 'delayed wake not forwarded; requeued');
        channel.nack(msg, false, true);
      }
    },
    { prefetch: 50 },
  );
}

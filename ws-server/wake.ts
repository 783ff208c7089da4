import { randomUUID } from 'node:crypto';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import type { AmqpClient } from '../shared/amqp/connection.js';
import { PermanentError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import type { WakeExchangeMessage } from '../shared/messages.js';

/**
 * Routing of wake-ups: the consumer publishes to a fanout exchange and every ws-server instance
 * binds its own exclusive, auto-delete queue to it, so each instance hears every wake and keeps
 * only the users it holds sockets for. RabbitMQ rather than Redis pub/sub because the consumer
 * already publishes there with confirms and a wake survives a brief disconnect of this instance
 * in its queue; a wake that is still lost (instance restart) only delays: the buffer in Redis is
 * the truth, and replay on AUTH plus redelivery bring everything unacked.
 */

const WAKE_PREFETCH = 200;

export type WakeHandler = (message: WakeExchangeMessage) => Promise<void>;

export interface WakeSubscription {
  queue: string;
  cancel(): Promise<void>;
}

export async function subscribeToWakes(amqp: AmqpClient, onWake: WakeHandler, logger: Logger): Promise<WakeSubscription> {
  const queue = `${amqp.topology.wakeExchange}.${randomUUID()}`;
  // Declared in the channel setup, so a reconnect re-creates the queue before re-subscribing.
  const channel: ChannelWrapper = await amqp.createChannel('ws-wake', async (ch) => {
    await ch.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
    await ch.bindQueue(queue, amqp.topology.wakeExchange, '');
  });
  await channel.consume(
    queue,
    async (msg: ConsumeMessage) => {
      let wake: WakeExchangeMessage | undefined;
      try {
        wake = parseWake(msg.content);
        await onWake(wake);
        channel.ack(msg);
      } catch (err) {
        // A malformed wake can never succeed; a failed Redis read may on the next try.
        const requeue = !(err instanceof PermanentError);
        const notificationIds = wake && 'notificationIds' in wake ? firstIds(wake.notificationIds) : undefined;
        logger.warn({ err, requeue, userId: wake?.userId, notificationIds }, 'wake-up not handled');
        channel.nack(msg, false, requeue);
      }
    },
    { prefetch: WAKE_PREFETCH },
  );
  return { queue, cancel: () => channel.cancelAll() };
}

/** A message without `kind` is a notification wake (published before kinds existed). */
export function parseWake(content: Buffer): WakeExchangeMessage {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    throw new PermanentError('wake-up is not JSON');
  }
  const wake = body as { kind?: unknown; userId?: unknown; notificationIds?: unknown } | null;
  if (typeof wake?.userId !== 'string') throw new PermanentError('wake-up lacks userId');
  if (wake.kind === 'unread') return { kind: 'unread', userId: wake.userId };
  if (
    (wake.kind !== undefined && wake.kind !== 'notifications') ||
    !Array.isArray(wake.notificationIds) ||
    !wake.notificationIds.every((id) => typeof id === 'string')
  ) {
    throw new PermanentError('wake-up has an unknown kind or lacks notificationIds');
  }
  return { userId: wake.userId, notificationIds: wake.notificationIds as string[] };
}

import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import type { Topology } from '../shared/amqp/topology.js';

/**
 * Where a failed event goes next. Delays live in the broker: a retry is a copy published to
 * the TTL queue of its attempt, which dead-letters it back into the events queue when the TTL
 * runs out. The attempt count travels in the `x-attempt` header.
 */
export const ATTEMPT_HEADER = 'x-attempt';
export const ERROR_HEADER = 'x-last-error';
export const DEAD_REASON_HEADER = 'x-dead-reason';

export function attemptOf(msg: ConsumeMessage): number {
  const raw: unknown = msg.properties.headers?.[ATTEMPT_HEADER];
  const n = Number(raw ?? 0);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

function copyOptions(msg: ConsumeMessage, headers: Record<string, unknown>) {
  const p = msg.properties;
  return {
    persistent: true,
    messageId: p.messageId as string | undefined,
    priority: p.priority as number | undefined,
    contentType: p.contentType as string | undefined,
    timestamp: p.timestamp as number | undefined,
    type: p.type as string | undefined,
    headers: { ...p.headers, ...headers },
  };
}

/** Publishes the copy with confirm; the caller acks the original only after this resolves. */
export async function deadLetter(channel: ChannelWrapper, topology: Topology, msg: ConsumeMessage, reason: string): Promise<void> {
  await channel.sendToQueue(
    topology.eventsDeadQueue,
    msg.content,
    copyOptions(msg, { [DEAD_REASON_HEADER]: reason.slice(0, 1000), [ATTEMPT_HEADER]: attemptOf(msg) }),
  );
}

/** Schedules the next attempt, or dead-letters once every retry queue has been used. */
export async function retryOrDeadLetter(
  channel: ChannelWrapper,
  topology: Topology,
  msg: ConsumeMessage,
  error: string,
): Promise<'retried' | 'dead_lettered'> {
  const attempt = attemptOf(msg);
  const queue = topology.eventsRetryQueues[attempt];
  if (queue === undefined) {
    await deadLetter(channel, topology, msg, `retries exhausted after ${attempt} attempts: ${error}`);
    return 'dead_lettered';
  }
  await channel.sendToQueue(queue, msg.content, copyOptions(msg, { [ATTEMPT_HEADER]: attempt + 1, [ERROR_HEADER]: error.slice(0, 1000) }));
  return 'retried';
}

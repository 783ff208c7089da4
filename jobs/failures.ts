import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { errorMessage } from '../shared/errors.js';
import { stripCredentials } from '../shared/redact.js';

/**
 * Where a message goes when its batch could not be written. The copy is published with a
 * broker confirm before the original is acked, so the message is always held by RabbitMQ.
 */

export const ATTEMPT_HEADER = 'x-attempt';
export const ERROR_HEADER = 'x-error';
export const SOURCE_HEADER = 'x-source-queue';

export function attemptOf(msg: ConsumeMessage): number {
  const value = Number(msg.properties.headers?.[ATTEMPT_HEADER] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

async function republish(
  channel: ChannelWrapper,
  queue: string,
  msg: ConsumeMessage,
  headers: Record<string, unknown>,
  content = msg.content,
): Promise<void> {
  await channel.sendToQueue(queue, content, {
    persistent: true,
    contentType: msg.properties.contentType as string | undefined,
    messageId: msg.properties.messageId as string | undefined,
    // x-death is the broker's own history of the old copy; carrying it over would only grow it.
    headers: { ...withoutDeath(msg.properties.headers), ...headers },
  });
}

function withoutDeath(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const { 'x-death': _death, 'x-first-death-exchange': _e, 'x-first-death-queue': _q, 'x-first-death-reason': _r, ...rest } =
    headers ?? {};
  return rest;
}

/**
 * A message that can never be written: to the dead-letter queue with the reason. `content`
 * replaces the body when only part of the message is dead (the invalid notifications of a
 * persist batch whose rest was stored); the original's properties are kept either way.
 */
export async function deadLetter(
  channel: ChannelWrapper,
  deadQueue: string,
  sourceQueue: string,
  msg: ConsumeMessage,
  err: unknown,
  content = msg.content,
): Promise<void> {
  const headers = { [ERROR_HEADER]: stripCredentials(errorMessage(err)).slice(0, 1000), [SOURCE_HEADER]: sourceQueue };
  await republish(channel, deadQueue, msg, headers, content);
}

/**
 * A message whose batch failed for a reason that can pass (MongoDB or Redis unreachable): into
 * the retry queue for its attempt, whose TTL dead-letters it back to the work queue. The delay
 * grows with each attempt and then stays at the longest one: a transient outage is waited out,
 * never turned into a dead letter. The body goes byte for byte as it came: a persist batch
 * travels whole, invalid items included (they are dead-lettered once the rest is stored).
 */
export async function retryLater(
  channel: ChannelWrapper,
  retryQueues: string[],
  msg: ConsumeMessage,
  err: unknown,
): Promise<void> {
  const attempt = attemptOf(msg);
  const queue = retryQueues[Math.min(attempt, retryQueues.length - 1)];
  if (queue === undefined) throw new Error('no retry queue configured (RETRY_MAX_ATTEMPTS=0)');
  await republish(channel, queue, msg, {
    [ATTEMPT_HEADER]: attempt + 1,
    [ERROR_HEADER]: stripCredentials(errorMessage(err)).slice(0, 1000),
  });
}

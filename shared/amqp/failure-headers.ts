import type { ConsumeMessage, Options } from 'amqplib';

/**
 * The headers a failed message carries, the same on every queue (shared/amqp/envelope.ts writes
 * them): an operator reading any dead-letter or retry queue finds the same names.
 */

/** Attempts that failed so far; the next retry goes to the retry queue of this index. */
export const ATTEMPT_HEADER = 'x-attempt';
/** The error of the latest failed attempt, on a retry copy. */
export const ERROR_HEADER = 'x-last-error';
/** Why the message was dead-lettered, on a dead letter. */
export const DEAD_REASON_HEADER = 'x-dead-reason';
/** The work queue the message failed in (one dead-letter queue may serve several). */
export const SOURCE_HEADER = 'x-source-queue';

/**
 * Names an older release wrote (jobs' `x-error`, for both retries and dead letters): a message
 * that still carries one loses it on its next republish, so no copy holds two error headers.
 */
const LEGACY_HEADERS = ['x-error'];

/**
 * The broker's own dead-letter history of the previous copy. A retry comes back through a TTL
 * queue, which adds to it each time; carried over, it would only grow.
 */
const BROKER_DEATH_HEADERS = [
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
];

/** Failed attempts so far; a missing or garbled header counts as none. */
export function attemptOf(msg: ConsumeMessage): number {
  const value = Number(msg.properties.headers?.[ATTEMPT_HEADER] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * Publish options for a copy of `msg`: persistent, with the original's properties (messageId,
 * priority, the producer's timestamp, ...) and headers, less the broker's death history and the
 * legacy names, plus `headers`.
 */
export function copyOptions(msg: ConsumeMessage, headers: Record<string, unknown>): Options.Publish {
  const p = msg.properties;
  const kept: Record<string, unknown> = { ...p.headers };
  for (const name of [...BROKER_DEATH_HEADERS, ...LEGACY_HEADERS]) delete kept[name];
  return {
    persistent: true,
    messageId: p.messageId as string | undefined,
    correlationId: p.correlationId as string | undefined,
    priority: p.priority as number | undefined,
    contentType: p.contentType as string | undefined,
    contentEncoding: p.contentEncoding as string | undefined,
    timestamp: p.timestamp as number | undefined,
    type: p.type as string | undefined,
    appId: p.appId as string | undefined,
    headers: { ...kept, ...headers },
  };
}

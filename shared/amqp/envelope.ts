import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { isDependencyOutage } from '../dependency-outage.js';
import { errorMessage, PermanentError } from '../errors.js';
import { stripCredentials } from '../redact.js';
import { deliveredOnOpenChannel } from './deliveries.js';
import {
  ATTEMPT_HEADER,
  attemptOf,
  copyOptions,
  DEAD_REASON_HEADER,
  ERROR_HEADER,
  SOURCE_HEADER,
} from './failure-headers.js';
import type { FailurePolicy } from './failure-policy.js';

/**
 * What every consumer does with a message it failed to handle, whatever its queue: a
 * PermanentError goes to the dead-letter queue with its reason, anything else to the retry
 * ladder of the queue's FailurePolicy (the delay lives in the broker: a TTL queue dead-letters
 * the copy back into the work queue); past the ladder, an outage of a dependency
 * (shared/dependency-outage.ts) waits on its last rung whatever the policy. Either way the copy
 * is published with a broker confirm before the original is acked, so the message is always held
 * by RabbitMQ; only when even that publish fails does the original go back onto its queue (nack
 * with requeue) — never acked.
 */

export type FailureOutcome = 'retried' | 'dead_lettered';

/** Header text is bounded: an error message may embed a whole driver reply. */
const MAX_REASON_CHARS = 1000;

function reasonOf(err: unknown): string {
  return stripCredentials(errorMessage(err)).slice(0, MAX_REASON_CHARS);
}

/**
 * Publishes `msg` to the policy's dead-letter queue with the reason. `content` replaces the body
 * when only part of the message is dead (the invalid notifications of a persist batch whose rest
 * was stored); the original's properties are kept either way. Resolves with the reason once the
 * broker confirmed the copy.
 */
export async function deadLetter(
  channel: ChannelWrapper,
  policy: FailurePolicy,
  msg: ConsumeMessage,
  err: unknown,
  content = msg.content,
): Promise<string> {
  const reason = reasonOf(err);
  await channel.sendToQueue(
    policy.deadQueue,
    content,
    copyOptions(msg, {
      [DEAD_REASON_HEADER]: reason,
      [ATTEMPT_HEADER]: attemptOf(msg),
      [SOURCE_HEADER]: policy.sourceQueue,
    }),
  );
  return reason;
}

/**
 * The rung for a message that failed `attempt` times before with `err`, or undefined when it is
 * to be dead-lettered. Past the ladder a 'dead-letter' policy gives up on a message that keeps
 * failing on its own, but an outage waits on the last rung as under 'keep-retrying': the message
 * is not at fault, and a dead letter would need a manual replay. (A ladder of no rungs, which only
 * the consumer allows, CONSUMER_RETRIES_BEFORE_DEAD_LETTER=0, has nowhere to wait: dead letter.)
 */
function retryQueueFor(policy: FailurePolicy, attempt: number, err: unknown): string | undefined {
  const rungs = policy.retryQueues;
  if (attempt < rungs.length) return rungs[attempt];
  const last = rungs.at(-1);
  if (policy.whenExhausted === 'dead-letter') return isDependencyOutage(err) ? last : undefined;
  if (last === undefined)
    throw new Error(`no retry queue for ${policy.sourceQueue}: a policy that keeps retrying needs at least one rung`);
  return last;
}

/**
 * Republishes a failed message where its policy sends it, with confirm, and says where. Does not
 * ack: a batch consumer acks each message of its batch once that message's copy is confirmed
 * (jobs/batch-consumer.ts). Rejects when the copy could not be published; the original must then
 * go back to its queue.
 */
export async function republishFailed(
  channel: ChannelWrapper,
  policy: FailurePolicy,
  msg: ConsumeMessage,
  err: unknown,
): Promise<{ outcome: FailureOutcome; reason: string }> {
  if (err instanceof PermanentError)
    return { outcome: 'dead_lettered', reason: await deadLetter(channel, policy, msg, err) };
  const attempt = attemptOf(msg);
  const reason = reasonOf(err);
  const queue = retryQueueFor(policy, attempt, err);
  if (queue === undefined) {
    const exhausted = `retries exhausted after ${attempt} attempts: ${reason}`;
    return { outcome: 'dead_lettered', reason: await deadLetter(channel, policy, msg, exhausted) };
  }
  await channel.sendToQueue(
    queue,
    msg.content,
    copyOptions(msg, { [ATTEMPT_HEADER]: attempt + 1, [ERROR_HEADER]: reason, [SOURCE_HEADER]: policy.sourceQueue }),
  );
  return { outcome: 'retried', reason };
}

export type Settled<O extends string> =
  | { failed: false; outcome: O }
  | { failed: true; outcome: FailureOutcome; reason: string }
  /** Not even the copy could be published: the original went back onto its queue. */
  | { failed: true; outcome: 'requeued'; reason: string; republishError: string }
  /**
   * Delivered on a channel that has closed since (shared/amqp/deliveries.ts): the broker put it
   * back then and delivers it again; nothing was acked, nacked or republished.
   */
  | { failed: true; outcome: 'redelivered'; reason: string };

const REDELIVERED = {
  failed: true,
  outcome: 'redelivered',
  reason: 'its channel closed before it was settled; the broker delivers it again',
} as const;

/**
 * Settles one message of a consumer that acks message by message: a success (`result` is its
 * outcome) is acked; a failure (`result` is the error) is republished per the policy, then acked,
 * or nacked with requeue if that publish failed. Resolves once the message is acked or nacked;
 * the caller logs and counts what it says. A message whose channel closed before this point
 * (consumed with consumeTracked) is left alone: it is on its queue again, and acking it on the
 * channel open now would ack another message (shared/amqp/deliveries.ts).
 */
export async function settle<O extends string>(
  channel: ChannelWrapper,
  policy: FailurePolicy,
  msg: ConsumeMessage,
  result: O | Error,
): Promise<Settled<O>> {
  if (!deliveredOnOpenChannel(channel, msg)) return REDELIVERED;
  if (!(result instanceof Error)) {
    channel.ack(msg);
    return { failed: false, outcome: result };
  }
  let republished: { outcome: FailureOutcome; reason: string };
  try {
    republished = await republishFailed(channel, policy, msg, result);
  } catch (err) {
    if (!deliveredOnOpenChannel(channel, msg)) return REDELIVERED;
    channel.nack(msg, false, true);
    return { failed: true, outcome: 'requeued', reason: reasonOf(result), republishError: reasonOf(err) };
  }
  // The copy's confirm may have come on a new channel: the original is back on its queue then,
  // and comes again (a second copy of a retry; the consumers are idempotent).
  if (!deliveredOnOpenChannel(channel, msg)) return REDELIVERED;
  channel.ack(msg);
  return { failed: true, ...republished };
}

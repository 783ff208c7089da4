import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { errorMessage, PermanentError } from '../shared/errors.js';
import { stripCredentials } from '../shared/redact.js';
import { dispatchEvents, type IncomingToProcess } from './dispatch-event.js';
import type { FanoutDeps } from './fanout.js';
import type { Outcome } from './metrics.js';
import { parseEvent } from './parse-event.js';
import { deadLetter, retryOrDeadLetter } from './retry.js';

export interface BatchOptions {
  /** Events processed together at most (the pipeline of script calls of one batch). */
  maxBatch: number;
}

/**
 * The events queue's consume envelope, batch-native: messages delivered while a batch is being
 * committed wait and form the next batch (group commit: no timer, a batch is whatever arrived
 * meanwhile, so an idle pipeline handles one event at once and a loaded one amortises each round
 * trip over many). Each message's fate follows its own outcome or error: acked once its work is
 * confirmed; a PermanentError dead-letters it, any other error retries it through the broker's
 * TTL queues (retry.ts) — acked only after that copy is confirmed, else nacked back onto the queue.
 *
 * Returns the AMQP callback; its promise settles when that message was acked or nacked.
 */
export function createMessageHandler(deps: FanoutDeps & { channel: ChannelWrapper }, options: BatchOptions) {
  const { channel, topology, metrics, logger } = deps;
  let waiting: Array<{ msg: ConsumeMessage; settle(): void }> = [];
  let committing = false;

  const settleOne = async (msg: ConsumeMessage, result: Outcome | Error): Promise<void> => {
    let outcome: Outcome;
    try {
      if (!(result instanceof Error)) {
        outcome = result;
      } else {
        const reason = stripCredentials(errorMessage(result));
        if (result instanceof PermanentError) {
          await deadLetter(channel, topology, msg, reason);
          outcome = 'dead_lettered';
          logger.warn({ eventId: msg.properties.messageId, reason }, 'event dead-lettered');
        } else {
          outcome = await retryOrDeadLetter(channel, topology, msg, reason);
          logger.warn({ eventId: msg.properties.messageId, err: reason, outcome }, 'event processing failed');
        }
      }
    } catch (err) {
      logger.error({ eventId: msg.properties.messageId, err: errorMessage(err) }, 'could not retry or dead-letter; requeueing');
      channel.nack(msg, false, true);
      return;
    }
    metrics.processed.inc({ outcome });
    channel.ack(msg);
  };

  /** One batch: parse each, process the valid ones together, then settle each on its own. */
  const runBatch = async (batch: Array<{ msg: ConsumeMessage; settle(): void }>): Promise<void> => {
    const results: Array<Outcome | Error> = new Array(batch.length);
    const valid: Array<{ index: number; item: IncomingToProcess }> = [];
    batch.forEach(({ msg }, index) => {
      try {
        const event = parseEvent(msg.content, msg.properties.messageId as string | undefined);
        const acceptedAtMs = typeof msg.properties.timestamp === 'number' ? msg.properties.timestamp : undefined;
        valid.push({ index, item: { event, ...(acceptedAtMs === undefined ? {} : { acceptedAtMs }) } });
      } catch (err) {
        results[index] = err instanceof Error ? err : new Error(String(err));
      }
    });
    // The commit step is what the next batch waits for; the hand-off (the persist batch's
    // confirm) continues while the next batch commits.
    let release!: () => void;
    const committed = new Promise<void>((resolve) => (release = resolve));
    const processing = dispatchEvents(
      deps,
      valid.map((v) => v.item),
      release,
    ).then(
      (outcomes) => valid.forEach((v, k) => (results[v.index] = outcomes[k]!)),
      (err: unknown) => valid.forEach((v) => (results[v.index] = err instanceof Error ? err : new Error(String(err)))),
    );
    await Promise.race([committed, processing]);
    void processing.then(async () => {
      await Promise.all(batch.map(({ msg }, i) => settleOne(msg, results[i]!)));
      batch.forEach((b) => b.settle());
    });
  };

  const pump = async (): Promise<void> => {
    if (committing) return;
    committing = true;
    try {
      while (waiting.length > 0) {
        const batch = waiting.slice(0, options.maxBatch);
        waiting = waiting.slice(batch.length);
        await runBatch(batch);
      }
    } finally {
      committing = false;
    }
  };

  return (msg: ConsumeMessage | null): Promise<void> => {
    if (msg === null) return Promise.resolve(); // the broker cancelled the consumer; the wrapper re-subscribes
    return new Promise<void>((settle) => {
      waiting.push({ msg, settle });
      // Deliveries that arrive in the same tick join one batch.
      if (!committing) setImmediate(() => void pump());
    });
  };
}

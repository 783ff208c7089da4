import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { failurePolicies, type FailurePolicy } from '../shared/amqp/failure-policy.js';
import { settle } from '../shared/amqp/envelope.js';
import { categoriesOf } from '../shared/amqp/topology.js';
import { EVENTS_MAX_PRIORITY, PRIORITY_OF_CATEGORY } from '../shared/priority.js';
import { requestIdOfMessage } from '../shared/request-id.js';
import { asError, PermanentError } from '../shared/errors.js';
import { dispatchEvents, type IncomingToProcess } from './dispatch-event.js';
import type { FanoutDeps } from './fanout.js';
import type { Outcome } from './metrics.js';
import { parseEvent } from './parse-event.js';
import { PriorityOrder } from './priority-order.js';
import type { RedisGate } from './redis-gate.js';

export interface BatchOptions {
  /** Events processed together at most (the pipeline of script calls of one batch). */
  maxBatch: number;
  /** Holds the next batch while Redis is down (consumer/redis-gate.ts); none: every batch runs. */
  gate?: RedisGate;
}

interface Delivered {
  msg: ConsumeMessage;
  /** The FailurePolicy of the events queue it came from. */
  policy: FailurePolicy;
  settle(): void;
}

/**
 * The events queues' consume envelope, batch-native: messages delivered while a batch is being
 * committed wait and form the next batch (group commit: no timer, a batch is whatever arrived
 * meanwhile, so an idle pipeline handles one event at once and a loaded one amortises each round
 * trip over many), taken highest priority first (consumer/priority-order.ts). Each message's fate
 * follows its own outcome or error: acked once its work is confirmed; any error is settled by the
 * shared envelope (shared/amqp/envelope.ts, the FailurePolicy of its events queue): dead letter
 * or retry copy confirmed, then acked, else nacked back.
 *
 * `forQueue(queue)` returns the AMQP callback for one events queue (all of them share the
 * batches); its promise settles when that message was acked or nacked.
 */
export function createMessageHandler(deps: FanoutDeps & { channel: ChannelWrapper }, options: BatchOptions) {
  const { channel, topology, metrics, logger } = deps;
  const waiting = new PriorityOrder<Delivered>();
  let committing = false;

  const policies = failurePolicies(topology).events;

  const settleOne = async (msg: ConsumeMessage, policy: FailurePolicy, result: Outcome | Error): Promise<void> => {
    const settled = await settle(channel, policy, msg, result);
    const eventId = msg.properties.messageId as unknown;
    const requestId = requestIdOfMessage(msg);
    // Counted when it comes again: this delivery's channel is gone (shared/amqp/deliveries.ts).
    if (settled.outcome === 'redelivered') return;
    if (settled.outcome === 'requeued') {
      logger.error({ eventId, requestId, err: settled.republishError }, 'could not retry or dead-letter; requeueing');
      return;
    }
    if (settled.failed && result instanceof PermanentError)
      logger.warn({ eventId, requestId, reason: settled.reason }, 'event dead-lettered');
    else if (settled.failed)
      logger.warn({ eventId, requestId, err: settled.reason, outcome: settled.outcome }, 'event processing failed');
    metrics.processed.inc({ outcome: settled.outcome });
  };

  /** One batch: parse each, process the valid ones together, then settle each on its own. */
  const runBatch = async (batch: Delivered[]): Promise<void> => {
    const results: Array<Outcome | Error> = new Array(batch.length);
    const valid: Array<{ index: number; item: IncomingToProcess }> = [];
    batch.forEach(({ msg }, index) => {
      try {
        const event = parseEvent(msg.content, msg.properties.messageId as string | undefined);
        const acceptedAtMs = typeof msg.properties.timestamp === 'number' ? msg.properties.timestamp : undefined;
        const requestId = requestIdOfMessage(msg);
        valid.push({
          index,
          item: {
            event,
            ...(acceptedAtMs === undefined ? {} : { acceptedAtMs }),
            ...(requestId === undefined ? {} : { requestId }),
          },
        });
      } catch (err) {
        results[index] = asError(err);
      }
    });
    // The commit step is what the next batch waits for; the hand-off (the persist batch's
    // confirm) continues while the next batch commits.
    // A commit that failed on Redis itself closes the gate before the next batch is taken.
    let release!: () => void;
    const committed = new Promise<void>((resolve) => (release = resolve));
    const processing = dispatchEvents(
      deps,
      valid.map((v) => v.item),
      (commitResults) => {
        options.gate?.note(commitResults);
        release();
      },
    ).then(
      (outcomes) => valid.forEach((v, k) => (results[v.index] = outcomes[k]!)),
      (err: unknown) => {
        options.gate?.note([err]);
        valid.forEach((v) => (results[v.index] = asError(err)));
      },
    );
    await Promise.race([committed, processing]);
    void processing.then(async () => {
      await Promise.all(batch.map(({ msg, policy }, i) => settleOne(msg, policy, results[i]!)));
      batch.forEach((b) => b.settle());
    });
  };

  const pump = async (): Promise<void> => {
    if (committing) return;
    committing = true;
    try {
      while (waiting.size > 0) {
        // While Redis is down the batch waits here, unacked, instead of failing onto the ladder.
        await options.gate?.whenOpen();
        await runBatch(waiting.take(options.maxBatch));
      }
    } finally {
      committing = false;
    }
  };

  return {
    forQueue(queue: string) {
      const categories = categoriesOf(topology, queue);
      const first = categories[0];
      if (first === undefined) throw new Error(`${queue} is not an events queue`);
      const policy = policies[first];
      // A category's own queue (quorum): its priority. The shared priority queue (classic): the
      // message's, as the producer set it; a missing or odd one counts as the lowest.
      const priorityOf =
        categories.length === 1
          ? () => PRIORITY_OF_CATEGORY[first]
          : (msg: ConsumeMessage) => {
              const p = Number(msg.properties.priority);
              return Number.isInteger(p) ? Math.min(Math.max(p, 0), EVENTS_MAX_PRIORITY) : 0;
            };
      return (msg: ConsumeMessage | null): Promise<void> => {
        if (msg === null) return Promise.resolve(); // the broker cancelled the consumer; the wrapper re-subscribes
        return new Promise<void>((settle) => {
          waiting.push({ msg, policy, settle }, priorityOf(msg));
          // Deliveries that arrive in the same tick join one batch.
          if (!committing) setImmediate(() => void pump());
        });
      };
    },
  };
}

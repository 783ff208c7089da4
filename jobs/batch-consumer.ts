import type { ChannelWrapper } from 'amqp-connection-manager';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumeMessage } from 'amqplib';
import type { AmqpClient } from '../shared/amqp/connection.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { Batcher } from './batcher.js';

/** A message with its body decoded once, when it arrived. */
export interface Decoded<T> {
  msg: ConsumeMessage;
  body: T;
}

/** A message whose retry or dead-letter copy the broker did not confirm, and why. */
export interface Unsettled {
  msg: ConsumeMessage;
  err: unknown;
}

/**
 * Handles one batch and resolves with the messages that must go back to their queue: those
 * neither written nor handed over to another queue with a broker confirm. Every other message of
 * the batch is acked, each by its own result: a message whose copy was confirmed must not also
 * be requeued (it would then exist twice), and one whose copy failed must not be acked.
 * Rejecting means no message was handled, so all of them go back to the queue.
 */
export type BatchHandler<T> = (batch: Array<Decoded<T>>, channel: ChannelWrapper) => Promise<Unsettled[]>;

export interface BatchConsumerOptions<T> {
  name: string;
  queue: string;
  prefetch: number;
  /** What a batch may weigh (`weight`): a batch is flushed once its messages reach it. */
  batchSize: number;
  flushMs: number;
  /** On stop, the longest wait for the batch being written before its messages are handed back. */
  drainTimeoutMs: number;
  /**
   * Decodes a body once, on arrival (its weight decides when the batch is full). Must not throw:
   * a body that can never be handled decodes to something the handler dead-letters.
   */
  decode: (content: Buffer) => T;
  /** What a message counts for against `batchSize`: the notifications or acks it carries. */
  weight: (body: T) => number;
  /** Notification ids of a body, for log lines. */
  idsOf: (body: T) => readonly string[];
  handle: BatchHandler<T>;
}

export interface BatchConsumer {
  /** Stops taking messages, finishes the batch being written and returns the others to the queue. */
  stop(): Promise<void>;
}

interface Delivery<T> extends Decoded<T> {
  /** Delivery tags belong to one channel: after a reconnect the old ones must not be acked. */
  generation: number;
}

export async function startBatchConsumer<T>(
  amqp: AmqpClient,
  logger: Logger,
  opts: BatchConsumerOptions<T>,
): Promise<BatchConsumer> {
  const log = logger.child({ component: opts.name });
  let generation = 0;
  let stopping = false;

  /**
   * Acks every message of `batch` but those in `requeue`, which are nacked back onto their queue.
   * The requeue is immediate, as the shared envelope's (shared/amqp/envelope.ts `settle`): the
   * delay of a failure lives in the broker's retry queues, and a message lands here only when
   * even its copy could not be published, so no process timer holds it (nor this consumer's one
   * flush slot, jobs/batcher.ts) meanwhile. While publishes keep failing, each round still costs
   * the failed write and the copy's confirm timeout. A nack, not a reject: the message is not at
   * fault. Up to RabbitMQ 4.2 a quorum queue still counts it and parks a message requeued
   * QUORUM_DELIVERY_LIMIT times; from 4.3 a nack does not count and the message comes back until a
   * copy is published, which loses nothing (docs/deploy.md "What counts toward the delivery limit").
   */
  const settle = (batch: Array<Delivery<T>>, requeue: ReadonlySet<ConsumeMessage>) => {
    for (const d of batch) {
      if (d.generation !== generation) continue;
      if (requeue.has(d.msg)) channel.nack(d.msg, false, true);
      else channel.ack(d.msg);
    }
  };
  const requeueAll = (batch: Array<Delivery<T>>) => settle(batch, new Set(batch.map((d) => d.msg)));

  const flush = async (batch: Array<Delivery<T>>) => {
    const live = batch.filter((d) => d.generation === generation);
    if (live.length === 0) return;
    if (stopping) {
      // Shutting down: a batch not started yet goes back to the broker instead of holding up the
      // exit (a backlog of PERSIST_PREFETCH messages can take longer than SHUTDOWN_TIMEOUT_MS).
      requeueAll(live);
      return;
    }
    let unsettled: Unsettled[];
    try {
      unsettled = await opts.handle(live, channel);
    } catch (err) {
      log.warn(
        {
          err: errorMessage(err),
          messages: live.length,
          notificationIds: firstIds(live.flatMap((d) => opts.idsOf(d.body))),
        },
        'batch failed; returning it to the queue',
      );
      requeueAll(live);
      return;
    }
    const requeue = new Set(unsettled.map((u) => u.msg));
    if (requeue.size > 0) {
      log.warn(
        {
          err: errorMessage(unsettled[0]!.err),
          messages: requeue.size,
          of: live.length,
          notificationIds: firstIds(live.filter((d) => requeue.has(d.msg)).flatMap((d) => opts.idsOf(d.body))),
        },
        'could not retry or dead-letter part of a batch; returning those messages to the queue',
      );
    }
    settle(live, requeue);
  };
  const batcher = new Batcher<Delivery<T>>(opts.batchSize, opts.flushMs, flush, (d) => opts.weight(d.body));

  // A new generation starts in a setup of its own, which amqp-connection-manager runs on every
  // (re)connect BEFORE it re-subscribes consumers: a backlog redelivered the instant the consumer
  // is back must already carry the new generation, or it would be discarded and sit unacked.
  // (The wrapper's 'connect' event fires only after re-subscribing: too late.) Not in the setup
  // createChannel takes: that one runs after the topology's declarations, some twenty round trips
  // during which the new channel is already the one acks go to, and a batch of the old channel
  // settling then would ack its old delivery tags on it (406 "unknown delivery tag", the channel
  // closed again). The wrapper starts every setup in the same pass, so this one runs before any
  // declaration is answered.
  const channel = await amqp.createChannel(opts.name);
  await channel.addSetup(() => {
    generation += 1;
    batcher.discard((d) => d.generation !== generation);
  });
  const { consumerTag } = await channel.consume(
    opts.queue,
    (msg) => {
      batcher.add({ msg, body: opts.decode(msg.content), generation });
    },
    { prefetch: opts.prefetch },
  );
  log.debug({ queue: opts.queue, consumerTag }, 'consuming');

  return {
    stop: async () => {
      stopping = true;
      await channel.cancelAll().catch(() => undefined);
      // A write stuck on a struggling database must not hold the exit: its messages are still
      // unacked, so closing the channel hands them back to the broker, and the upserts make the
      // second attempt harmless.
      const drained = await Promise.race([
        batcher.drain().then(() => true),
        sleep(opts.drainTimeoutMs, undefined, { ref: false }).then(() => false),
      ]);
      if (!drained) log.warn('batch still being written at shutdown; its messages go back to the queue');
      await channel.close().catch(() => undefined);
    },
  };
}

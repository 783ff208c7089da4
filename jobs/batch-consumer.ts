import type { ChannelWrapper } from 'amqp-connection-manager';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumeMessage } from 'amqplib';
import type { AmqpClient } from '../shared/amqp/connection.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { Batcher } from './batcher.js';

/**
 * Handles one batch. Resolving means every message of it is written or handed over to another
 * queue with a broker confirm, so all of them are acked; rejecting means none was, so all of
 * them go back to the queue.
 */
export type BatchHandler = (messages: ConsumeMessage[], channel: ChannelWrapper) => Promise<void>;

export interface BatchConsumerOptions {
  name: string;
  queue: string;
  prefetch: number;
  batchSize: number;
  flushMs: number;
  /** How long a rejected batch is held (unacked, so still safe in the broker) before requeueing. */
  requeueDelayMs: number;
  /** On stop, the longest wait for the batch being written before its messages are handed back. */
  drainTimeoutMs: number;
  handle: BatchHandler;
}

export interface BatchConsumer {
  /** Stops taking messages, finishes the batch being written and returns the others to the queue. */
  stop(): Promise<void>;
}

interface Delivery {
  msg: ConsumeMessage;
  /** Delivery tags belong to one channel: after a reconnect the old ones must not be acked. */
  generation: number;
}

export async function startBatchConsumer(amqp: AmqpClient, logger: Logger, opts: BatchConsumerOptions): Promise<BatchConsumer> {
  const log = logger.child({ component: opts.name });
  let generation = 0;
  let stopping = false;

  const settle = (batch: Delivery[], ok: boolean) => {
    for (const d of batch) {
      if (d.generation !== generation) continue;
      if (ok) channel.ack(d.msg);
      else channel.nack(d.msg, false, true);
    }
  };

  const batcher = new Batcher<Delivery>(opts.batchSize, opts.flushMs, async (batch) => {
    const live = batch.filter((d) => d.generation === generation);
    if (live.length === 0) return;
    if (stopping) {
      // Shutting down: a batch not started yet goes back to the broker instead of holding up the
      // exit (a backlog of PERSIST_PREFETCH messages can take longer than SHUTDOWN_TIMEOUT_MS).
      settle(live, false);
      return;
    }
    try {
      await opts.handle(
        live.map((d) => d.msg),
        channel,
      );
      settle(live, true);
    } catch (err) {
      log.warn(
        { err: errorMessage(err), messages: live.length, notificationIds: firstIds(live.map((d) => notificationIdOf(d.msg))) },
        'batch failed; returning it to the queue',
      );
      if (!stopping) await new Promise((resolve) => setTimeout(resolve, opts.requeueDelayMs));
      settle(live, false);
    }
  });

  // A new generation starts in the channel's setup, which amqp-connection-manager runs on every
  // (re)connect BEFORE it re-subscribes consumers: a backlog redelivered the instant the consumer
  // is back must already carry the new generation, or it would be discarded and sit unacked.
  // (The wrapper's 'connect' event fires only after re-subscribing: too late.)
  const channel = await amqp.createChannel(opts.name, async () => {
    generation += 1;
    batcher.discard((d) => d.generation !== generation);
  });
  const { consumerTag } = await channel.consume(
    opts.queue,
    (msg) => {
      batcher.add({ msg, generation });
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
      const drained = await Promise.race([batcher.drain().then(() => true), sleep(opts.drainTimeoutMs, undefined, { ref: false }).then(() => false)]);
      if (!drained) log.warn('batch still being written at shutdown; its messages go back to the queue');
      await channel.close().catch(() => undefined);
    },
  };
}

/** A persist job's messageId is its notification's id; an ack body names it (jobs/job-body.ts). */
function notificationIdOf(msg: ConsumeMessage): unknown {
  if (typeof msg.properties.messageId === 'string') return msg.properties.messageId;
  try {
    return (JSON.parse(msg.content.toString('utf8')) as { notificationId?: unknown } | null)?.notificationId;
  } catch {
    return undefined;
  }
}

import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { deadLetter, republishFailed } from '../shared/amqp/envelope.js';
import { failurePolicies, type FailurePolicy } from '../shared/amqp/failure-policy.js';
import type { Topology } from '../shared/amqp/topology.js';
import { PermanentError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import type { AckBatchMessage } from '../shared/messages.js';
import { encodePersistBatch } from '../shared/persist-batch.js';
import { applyAcks, type AckDeps } from './acks.js';
import type { BatchConsumerOptions, BatchHandler, Decoded, Unsettled } from './batch-consumer.js';
import { describeInvalid, parseAckMessage, parsePersistJob, type PersistJob } from './job-body.js';
import type { JobsMetrics } from './metrics.js';
import { persistNotifications, type PersistDeps } from './persist.js';

/** A body as decoded on arrival: what it carries, or why none of it can ever be written. */
export type Body<T> = { ok: true; value: T } | { ok: false; error: PermanentError };

function decoding<T>(parse: (content: Buffer) => T): (content: Buffer) => Body<T> {
  return (content) => {
    try {
      return { ok: true, value: parse(content) };
    } catch (err) {
      return { ok: false, error: err instanceof PermanentError ? err : new PermanentError(errorMessage(err)) };
    }
  };
}

type Codec<T> = Pick<BatchConsumerOptions<Body<T>>, 'decode' | 'weight' | 'idsOf'>;

/** A persist message counts for the notifications it carries (PERSIST_BATCH_SIZE bounds those). */
export const persistCodec: Codec<PersistJob> = {
  decode: decoding(parsePersistJob),
  weight: (b) => (b.ok ? b.value.notifications.length + b.value.invalid.length : 1),
  idsOf: (b) => (b.ok ? b.value.notifications.map((n) => n.id) : []),
};

export const ackCodec: Codec<AckBatchMessage> = {
  decode: decoding(parseAckMessage),
  weight: (b) => (b.ok ? Math.max(1, b.value.notificationIds.length) : 1),
  idsOf: (b) => (b.ok ? b.value.notificationIds : []),
};

/**
 * The broker-confirmed copies (retries, dead letters) of one batch, made one at a time, and the
 * messages left without one. A message whose copy was confirmed is acked; one whose copy failed
 * goes back to its queue, so each message exists once: as its copy or as itself. Once a copy has
 * failed, the later ones of the batch are not tried and their messages go back too: such a
 * failure is the channel's or the broker's (a confirm timeout, a closed channel, a blocked
 * connection), so each further copy would only wait out its own PUBLISH_CONFIRM_TIMEOUT_MS in
 * the batch consumer's one flush slot.
 */
class Copies {
  readonly unsettled: Unsettled[] = [];

  /** The publish's result once confirmed; undefined when the message goes back to its queue. */
  async make<R>(msg: ConsumeMessage, publish: () => Promise<R>): Promise<R | undefined> {
    const failed = this.unsettled[0];
    if (failed) {
      this.unsettled.push({ msg, err: failed.err });
      return undefined;
    }
    try {
      return await publish();
    } catch (err) {
      this.unsettled.push({ msg, err });
      return undefined;
    }
  }
}

/** Dead-letters the messages nothing of which can be written; returns the others with their bodies. */
async function withoutDead<T>(
  batch: Array<Decoded<Body<T>>>,
  channel: ChannelWrapper,
  policy: FailurePolicy,
  copies: Copies,
  metrics: JobsMetrics,
  log: Logger,
): Promise<Array<{ msg: ConsumeMessage; body: T }>> {
  const valid: Array<{ msg: ConsumeMessage; body: T }> = [];
  for (const { msg, body } of batch) {
    if (body.ok) {
      valid.push({ msg, body: body.value });
      continue;
    }
    const { error } = body;
    if ((await copies.make(msg, () => deadLetter(channel, policy, msg, error))) === undefined) continue;
    metrics.deadLettered.inc({ queue: policy.sourceQueue });
    // A bare persist job's messageId is its notification's id; batch and ack bodies have none.
    log.warn(
      { err: body.error.message, notificationId: msg.properties.messageId as unknown },
      'dead-lettered a message that can never be written',
    );
  }
  return valid;
}

/**
 * A batch whose write failed: each message goes where the queue's FailurePolicy sends it (the
 * shared envelope: a transient failure to the retry ladder, waited out on its last rung), counted
 * under `label` once its copy is confirmed. A message whose copy could not be published (or was
 * not tried after one that could not) is left in `copies`, and the batch consumer returns it
 * alone to the queue.
 */
async function republishBatch(
  messages: ConsumeMessage[],
  channel: ChannelWrapper,
  policy: FailurePolicy,
  copies: Copies,
  err: unknown,
  metrics: JobsMetrics,
  label: 'persist' | 'acks',
): Promise<void> {
  for (const msg of messages) {
    const republished = await copies.make(msg, () => republishFailed(channel, policy, msg, err));
    if (republished?.outcome === 'retried') metrics.retried.inc({ queue: label });
    else if (republished?.outcome === 'dead_lettered') metrics.deadLettered.inc({ queue: policy.sourceQueue });
  }
}

/**
 * One flush of persist messages, each a consumer flush of notifications: every valid
 * notification of every message goes into one `persistNotifications` call. A message that is
 * not a batch at all is dead-lettered first; the invalid items of a batch message are
 * dead-lettered (a dead message of their own, body `{notifications: [those items]}`) only once
 * the rest is stored, so a failed store retries the original body intact and its invalid part is
 * dead-lettered once. Each message is acked only after all that, and only if every copy it needed
 * was confirmed; the others go back to the queue (batch-consumer.ts).
 */
export function persistHandler(deps: PersistDeps, topology: Topology, log: Logger): BatchHandler<Body<PersistJob>> {
  const policy = failurePolicies(topology).persist;
  return async (batch, channel) => {
    const copies = new Copies();
    const valid = await withoutDead(batch, channel, policy, copies, deps.metrics, log);
    const notifications = valid.flatMap((v) => v.body.notifications);
    deps.metrics.batchSize.observe({ queue: 'persist' }, notifications.length);
    try {
      await persistNotifications(deps, notifications);
      log.debug(
        {
          messages: valid.length,
          notificationCount: notifications.length,
          notificationIds: firstIds(notifications.map((n) => n.id)),
        },
        'persist batch written',
      );
    } catch (err) {
      log.warn(
        {
          err: errorMessage(err),
          messages: valid.length,
          notificationCount: notifications.length,
          notificationIds: firstIds(notifications.map((n) => n.id)),
        },
        'persist batch failed; retrying with backoff',
      );
      // The body goes byte for byte as it came: a persist batch travels whole, invalid items
      // included (they are dead-lettered once the rest is stored).
      await republishBatch(
        valid.map((v) => v.msg),
        channel,
        policy,
        copies,
        err,
        deps.metrics,
        'persist',
      );
      return copies.unsettled;
    }
    for (const { msg, body } of valid) {
      if (body.invalid.length === 0) continue;
      const error = new PermanentError(describeInvalid(body.invalid));
      const dead = encodePersistBatch(body.invalid.map((i) => JSON.stringify(i.item)));
      // Not confirmed: the message goes back and, its notifications already stored, comes again
      // only to have its invalid part dead-lettered.
      if ((await copies.make(msg, () => deadLetter(channel, policy, msg, error, dead))) === undefined) continue;
      deps.metrics.deadLettered.inc({ queue: policy.sourceQueue });
      log.warn(
        { err: error.message, invalid: body.invalid.length, stored: body.notifications.length },
        'dead-lettered the invalid part of a persist batch',
      );
    }
    return copies.unsettled;
  };
}

/** Ack batches fail and retry like persist batches, through the acks queue's own retry queues. */
export function ackHandler(deps: AckDeps, topology: Topology, log: Logger): BatchHandler<Body<AckBatchMessage>> {
  const policy = failurePolicies(topology).acks;
  return async (batch, channel) => {
    const copies = new Copies();
    const valid = await withoutDead(batch, channel, policy, copies, deps.metrics, log);
    const messages = valid.map((v) => v.body);
    const ids = messages.flatMap((m) => m.notificationIds);
    deps.metrics.batchSize.observe({ queue: 'acks' }, ids.length);
    try {
      await applyAcks(deps, messages);
      log.debug(
        { messages: messages.length, notificationCount: ids.length, notificationIds: firstIds(ids) },
        'ack batch applied',
      );
    } catch (err) {
      log.warn(
        {
          err: errorMessage(err),
          messages: messages.length,
          notificationCount: ids.length,
          notificationIds: firstIds(ids),
        },
        'ack batch failed; retrying with backoff',
      );
      await republishBatch(
        valid.map((v) => v.msg),
        channel,
        policy,
        copies,
        err,
        deps.metrics,
        'acks',
      );
    }
    return copies.unsettled;
  };
}

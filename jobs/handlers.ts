import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import type { Topology } from '../shared/amqp/topology.js';
import { PermanentError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { applyAcks, type AckDeps } from './acks.js';
import type { BatchHandler } from './batch-consumer.js';
import { deadLetter, retryLater } from './failures.js';
import { parseAckMessage, parsePersistJob } from './job-body.js';
import type { JobsMetrics } from './metrics.js';
import { persistNotifications, type PersistDeps } from './persist.js';

/** Splits a batch into parsed bodies and messages that can never be written (dead-lettered). */
async function parseOrDeadLetter<T>(
  messages: ConsumeMessage[],
  parse: (content: Buffer) => T,
  channel: ChannelWrapper,
  topology: Topology,
  source: string,
  metrics: JobsMetrics,
  log: Logger,
): Promise<Array<{ msg: ConsumeMessage; body: T }>> {
  const valid: Array<{ msg: ConsumeMessage; body: T }> = [];
  for (const msg of messages) {
    try {
      valid.push({ msg, body: parse(msg.content) });
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      await deadLetter(channel, topology.persistDeadQueue, source, msg, err);
      metrics.deadLettered.inc({ queue: source });
      // A persist job's messageId is its notification's id (consumer/hand-off.ts); ack bodies have none.
      log.warn({ err: err.message, notificationId: msg.properties.messageId as unknown }, 'dead-lettered a message that can never be written');
    }
  }
  return valid;
}

export function persistHandler(deps: PersistDeps, topology: Topology, log: Logger): BatchHandler {
  return async (messages, channel) => {
    deps.metrics.batchSize.observe({ queue: 'persist' }, messages.length);
    const valid = await parseOrDeadLetter(messages, parsePersistJob, channel, topology, topology.persistQueue, deps.metrics, log);
    try {
      await persistNotifications(
        deps,
        valid.map((v) => v.body),
      );
      log.debug({ notificationCount: valid.length, notificationIds: firstIds(valid.map((v) => v.body.id)) }, 'persist batch written');
    } catch (err) {
      log.warn(
        { err: errorMessage(err), messages: valid.length, notificationIds: firstIds(valid.map((v) => v.body.id)) },
        'persist batch failed; retrying with backoff',
      );
      for (const { msg } of valid) await retryLater(channel, topology.persistRetryQueues, msg, err);
      deps.metrics.retried.inc({ queue: 'persist' }, valid.length);
    }
  };
}

/**
 * The acks queue has no retry queues of its own: a failed ack batch is rejected and held
 * unacked by the batch consumer for a while, then requeued.
 */
export function ackHandler(deps: AckDeps, topology: Topology, log: Logger): BatchHandler {
  return async (messages, channel) => {
    deps.metrics.batchSize.observe({ queue: 'acks' }, messages.length);
    const valid = await parseOrDeadLetter(messages, parseAckMessage, channel, topology, topology.acksQueue, deps.metrics, log);
    await applyAcks(
      deps,
      valid.map((v) => v.body),
    );
    log.debug({ notificationCount: valid.length, notificationIds: firstIds(valid.map((v) => v.body.notificationId)) }, 'ack batch applied');
  };
}

import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import type { Topology } from '../shared/amqp/topology.js';
import { errorMessage, PermanentError } from '../shared/errors.js';
import { stripCredentials } from '../shared/redact.js';
import { runFanoutPage, type FanoutDeps } from './fanout.js';
import { parseFanoutPage } from './fanout-message.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { deadLetter, retryOrDeadLetter } from './retry.js';

/** retry.ts's rules, pointed at the fan-out queue's own retry and dead-letter queues. */
function fanoutRetryTopology(t: Topology): Topology {
  return { ...t, eventsRetryQueues: t.fanoutRetryQueues, eventsDeadQueue: t.fanoutDeadQueue };
}

/**
 * The AMQP callback of topology.fanoutQueue: parse one page, run it, then ack — or retry it
 * through the broker's TTL queues, or dead-letter poison. Acked only after its successor
 * (the next page, the notifications, a retry copy or a dead letter) is confirmed.
 */
export function createFanoutHandler(deps: FanoutDeps & { channel: ChannelWrapper; fanoutMetrics: FanoutMetrics }) {
  const { channel, logger, fanoutMetrics } = deps;
  const retryTopology = fanoutRetryTopology(deps.topology);
  return async (msg: ConsumeMessage | null): Promise<void> => {
    if (msg === null) return;
    let outcome: string;
    try {
      try {
        const result = await runFanoutPage(deps, parseFanoutPage(msg.content));
        outcome = result.status;
        if (result.status === 'done') {
          for (const [o, n] of Object.entries(result.recipients)) fanoutMetrics.recipients.inc({ outcome: o }, n);
        }
      } catch (err) {
        const reason = stripCredentials(errorMessage(err));
        if (err instanceof PermanentError) {
          await deadLetter(channel, retryTopology, msg, reason);
          outcome = 'dead_lettered';
        } else {
          outcome = await retryOrDeadLetter(channel, retryTopology, msg, reason);
        }
        logger.warn({ eventId: eventIdOf(msg), messageId: msg.properties.messageId, err: reason, outcome }, 'fan-out page failed');
      }
    } catch (err) {
      logger.error({ eventId: eventIdOf(msg), messageId: msg.properties.messageId, err: errorMessage(err) }, 'could not retry or dead-letter a fan-out page; requeueing');
      channel.nack(msg, false, true);
      return;
    }
    fanoutMetrics.pages.inc({ outcome });
    channel.ack(msg);
  };
}

/** A fan-out page's messageId is `${eventId}#${page}` (consumer/fanout.ts): the POST event it belongs to. */
function eventIdOf(msg: ConsumeMessage): string | undefined {
  const id: unknown = msg.properties.messageId;
  return typeof id === 'string' ? id.split('#')[0] : undefined;
}

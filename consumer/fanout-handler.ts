import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { settle } from '../shared/amqp/envelope.js';
import { failurePolicies } from '../shared/amqp/failure-policy.js';
import { asError } from '../shared/errors.js';
import { requestIdOfMessage } from '../shared/request-id.js';
import { runFanoutPage, type FanoutDeps, type PageOutcome } from './fanout.js';
import { parseFanoutPage } from './fanout-message.js';
import type { FanoutMetrics } from './fanout-metrics.js';

/**
 * The AMQP callback of topology.fanoutQueue: parse one page, run it, then ack — or settle the
 * failure through the shared envelope with the fan-out queue's FailurePolicy (retry ladder, then
 * dead letter; poison at once). Acked only after its successor (the next page, the
 * notifications, a retry copy or a dead letter) is confirmed.
 */
export function createFanoutHandler(deps: FanoutDeps & { channel: ChannelWrapper; fanoutMetrics: FanoutMetrics }) {
  const { channel, logger, fanoutMetrics } = deps;
  const policy = failurePolicies(deps.topology).fanout;
  return async (msg: ConsumeMessage | null): Promise<void> => {
    if (msg === null) return;
    let result: PageOutcome['status'] | Error;
    try {
      const page = await runFanoutPage(deps, parseFanoutPage(msg.content), requestIdOfMessage(msg));
      result = page.status;
      if (page.status === 'done') {
        for (const [o, n] of Object.entries(page.recipients)) fanoutMetrics.recipients.inc({ outcome: o }, n);
      }
    } catch (err) {
      result = asError(err);
    }
    const settled = await settle(channel, policy, msg, result);
    const ids = {
      eventId: eventIdOf(msg),
      messageId: msg.properties.messageId as unknown,
      requestId: requestIdOfMessage(msg),
    };
    // Counted when it comes again: this delivery's channel is gone (shared/amqp/deliveries.ts).
    if (settled.outcome === 'redelivered') return;
    if (settled.outcome === 'requeued') {
      logger.error(
        { ...ids, err: settled.republishError },
        'could not retry or dead-letter a fan-out page; requeueing',
      );
      return;
    }
    if (settled.failed) logger.warn({ ...ids, err: settled.reason, outcome: settled.outcome }, 'fan-out page failed');
    fanoutMetrics.pages.inc({ outcome: settled.outcome });
  };
}

/** A fan-out page's messageId is `${eventId}#${page}` (consumer/fanout.ts): the POST event it belongs to. */
function eventIdOf(msg: ConsumeMessage): string | undefined {
  const id: unknown = msg.properties.messageId;
  return typeof id === 'string' ? id.split('#')[0] : undefined;
}

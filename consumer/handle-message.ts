import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConsumeMessage } from 'amqplib';
import { errorMessage, PermanentError } from '../shared/errors.js';
import { stripCredentials } from '../shared/redact.js';
import type { Outcome } from './metrics.js';
import { parseEvent } from './parse-event.js';
import { dispatchEvent } from './dispatch-event.js';
import type { FanoutDeps } from './fanout.js';
import { deadLetter, retryOrDeadLetter } from './retry.js';

/**
 * The AMQP callback: parse, process, then decide the message's fate from the outcome or the
 * error's class. The original is acked only after its successor (notification, retry copy or
 * dead letter) is confirmed; if even that fails it is nacked back onto the queue.
 */
export function createMessageHandler(deps: FanoutDeps & { channel: ChannelWrapper }) {
  const { channel, topology, metrics, logger } = deps;
  return async (msg: ConsumeMessage | null): Promise<void> => {
    if (msg === null) return; // the broker cancelled the consumer; the wrapper re-subscribes
    let outcome: Outcome;
    try {
      try {
        const event = parseEvent(msg.content, msg.properties.messageId as string | undefined);
        const acceptedAt = typeof msg.properties.timestamp === 'number' ? msg.properties.timestamp : undefined;
        outcome = await dispatchEvent(deps, event, acceptedAt);
      } catch (err) {
        const reason = stripCredentials(errorMessage(err));
        if (err instanceof PermanentError) {
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
}

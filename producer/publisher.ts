import type { ChannelWrapper } from 'amqp-connection-manager';
import type { AmqpClient } from '../shared/amqp/connection.js';
import { errorMessage } from '../shared/errors.js';
import { withTimeout } from '../shared/lifecycle.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../shared/messages.js';
import { categoryOf, priorityOf } from '../shared/priority.js';
import type { ActivityEvent } from '../shared/schemas/event.js';

/** Why a publish did not end in a broker confirm; the caller answers 503. */
export class PublishFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublishFailedError';
  }
}

export interface EventPublisher {
  /**
   * Resolves only once the broker confirmed the persistent message. `requestId` (the HTTP
   * request's) travels as the message's correlationId, for the consumer's log lines.
   */
  publish(event: ActivityEvent & { eventId: string }, requestId?: string): Promise<void>;
}

/**
 * How much later than the deadline below amqp-connection-manager's own timeout of the message
 * fires. Its channel-wide one (publishTimeout, shared/amqp/connection.ts) is the same
 * PUBLISH_CONFIRM_TIMEOUT_MS and starts a moment earlier, so it fired first and the client read
 * "publish failed: timeout"; with this margin the producer's deadline fires, and the 503 says the
 * broker did not confirm in time. The wrapper's still bounds how long it keeps a message it could
 * not send (the broker lost meanwhile).
 */
export const WRAPPER_TIMEOUT_MARGIN_MS = 1000;

export function createEventPublisher(
  amqp: AmqpClient,
  channel: ChannelWrapper,
  confirmTimeoutMs: number,
): EventPublisher {
  return {
    async publish(event, requestId) {
      // amqp-connection-manager would queue the message until the broker is back; an HTTP
      // client must not wait for that, so a disconnected broker is an immediate 503.
      if (!amqp.isConnected()) throw new PublishFailedError('the message broker is unreachable');
      const sent = channel.sendToQueue(amqp.topology.eventsQueues[categoryOf(event.type)], encodeJson(event), {
        persistent: true,
        messageId: event.eventId,
        ...(requestId === undefined ? {} : { correlationId: requestId }),
        priority: priorityOf(event.type),
        contentType: JSON_CONTENT_TYPE,
        timestamp: Date.now(),
        type: event.type,
        timeout: confirmTimeoutMs + WRAPPER_TIMEOUT_MARGIN_MS,
      });
      try {
        await withTimeout(sent, confirmTimeoutMs, () => new PublishFailedError('the broker did not confirm in time'));
      } catch (err) {
        sent.catch(() => undefined);
        throw err instanceof PublishFailedError ? err : new PublishFailedError(`publish failed: ${errorMessage(err)}`);
      }
    },
  };
}

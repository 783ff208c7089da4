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

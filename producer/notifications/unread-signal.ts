import type { ChannelWrapper } from 'amqp-connection-manager';
import type { AmqpClient } from '../../shared/amqp/connection.js';
import { errorMessage } from '../../shared/errors.js';
import { withTimeout } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { encodeJson, JSON_CONTENT_TYPE, type UnreadChangedMessage } from '../../shared/messages.js';

/** Tells every ws-server that a user's unread count changed, so their sockets get an UNREAD frame. */
export type UnreadSignal = (userId: string) => Promise<void>;

/**
 * Published on the wake fanout exchange, like a wake. The read is already stored when this runs,
 * so a failure is only logged: the frame is a courtesy, and the next push, AUTH_OK or
 * unread-count call carries the count anyway. The channel is opened on first use.
 */
export function unreadSignal(amqp: AmqpClient, confirmTimeoutMs: number, logger: Logger): UnreadSignal {
  let channel: Promise<ChannelWrapper> | undefined;
  return async (userId) => {
    const body: UnreadChangedMessage = { kind: 'unread', userId };
    try {
      channel ??= amqp.createChannel('producer-unread');
      const sent = (await channel).publish(amqp.topology.wakeExchange, '', encodeJson(body), { contentType: JSON_CONTENT_TYPE });
      sent.catch(() => undefined); // a late failure after the timeout has nobody to tell
      await withTimeout(sent, confirmTimeoutMs, () => new Error('the broker did not confirm in time'));
    } catch (err) {
      logger.warn({ err: errorMessage(err), userId }, 'unread change not announced; clients catch up on the next frame');
    }
  };
}

import { encodeJson, type AckBatchMessage } from './messages.js';

/**
 * The body of one ws-server → jobs ack message: every id of one ACK frame that jobs has to mark
 * delivered, in one broker message (shared/messages.ts AckBatchMessage). Ids are deduplicated,
 * so a frame that names an id twice asks jobs once.
 */
export function encodeAckBatch(message: AckBatchMessage): Buffer {
  return encodeJson({ ...message, notificationIds: [...new Set(message.notificationIds)] });
}

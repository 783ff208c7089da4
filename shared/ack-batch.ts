import { PermanentError } from './errors.js';
import { encodeJson, type AckBatchMessage } from './messages.js';

/**
 * The acks queue's body (shared/messages.ts AckBatchMessage): the acks of one ACK frame in one
 * broker message. jobs decodes it here and still accepts the single `AckMessage`, the body
 * before batches. An ACK frame holds at most WS_MAX_ACK_BATCH ids of at most
 * MAX_NOTIFICATION_ID_LENGTH characters (shared/ack-frame.ts), so a body stays a few KB.
 */

export function encodeAckBatch(
  userId: string,
  ackedAt: string,
  notificationIds: readonly string[],
  versions?: readonly number[],
): Buffer {
  const body: AckBatchMessage = {
    userId,
    ackedAt,
    notificationIds: [...notificationIds],
    ...(versions ? { versions: [...versions] } : {}),
  };
  return encodeJson(body);
}

export interface AckBody {
  /** The decoded object, not validated yet (jobs/job-body.ts). */
  raw: Record<string, unknown>;
  /** false: a single `AckMessage`, the body before batches. */
  batch: boolean;
}

/** Not JSON or not an object: the message can never be applied (PermanentError). */
export function decodeAckBody(content: Buffer): AckBody {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    throw new PermanentError('ack message: body is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new PermanentError('ack message: body is not a JSON object');
  return { raw: raw as Record<string, unknown>, batch: 'notificationIds' in raw };
}

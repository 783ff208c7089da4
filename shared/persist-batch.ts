import { PermanentError } from './errors.js';

/**
 * The persist queue's body (shared/messages.ts PersistBatchMessage): every notification of one
 * consumer flush in one broker message. The producer side builds it from the JSON it already
 * encoded for the buffer, so a notification is serialised once; jobs decodes it here and still
 * accepts a bare `Notification`, the body before batches.
 */

/**
 * Largest persist body the consumer sends (consumer/hand-off.ts). RabbitMQ refuses messages over `max_message_size`
 * (16 MiB by default on 4.x, 128 MiB on 3.x); a notification is about 0.5 KB, so 1 MiB holds
 * some 2,000 of them, far more than one flush, and stays far below either limit.
 */
export const PERSIST_BATCH_MAX_BYTES = 1024 * 1024;

const OPEN = '{"notifications":[';
const CLOSE = ']}';

/**
 * `{"notifications":[…]}` from notifications already encoded as JSON (encodeNotification), joined
 * as they are: nothing is parsed or encoded again. Each string must be one JSON object.
 */
export function encodePersistBatch(jsons: readonly string[]): Buffer {
  return Buffer.from(OPEN + jsons.join(',') + CLOSE);
}

export interface PersistBody {
  /** The notifications as decoded, not validated yet (jobs/job-body.ts checks each one). */
  items: unknown[];
  /** false: a bare notification, the body before batches. */
  batch: boolean;
}

/**
 * A persist message's body: `{notifications: [...]}`, or any other JSON object taken as one
 * notification. Not JSON, not an object, or a `notifications` that is not an array: the whole
 * message can never be stored (PermanentError).
 */
export function decodePersistBody(content: Buffer): PersistBody {
  let raw: unknown;
  try {
    raw = JSON.parse(content.toString('utf8'));
  } catch {
    throw new PermanentError('persist job: body is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new PermanentError('persist job: body is not a JSON object');
  if (!('notifications' in raw)) return { items: [raw], batch: false };
  const { notifications } = raw as { notifications: unknown };
  if (!Array.isArray(notifications)) throw new PermanentError('persist batch: "notifications" must be an array');
  return { items: notifications, batch: true };
}

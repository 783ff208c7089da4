/**
 * Bodies of the AMQP messages between services (JSON, persistent, contentType
 * application/json). The event body itself is defined by the Joi schema in shared/schemas.
 * A persist job's body is a whole `Notification` (shared/notification.ts), so jobs can store
 * it even if Redis lost the buffered copy.
 */

/** ws-server → jobs: a user acked a notification. */
export interface AckMessage {
  notificationId: string;
  userId: string;
  /** ISO 8601. */
  ackedAt: string;
}

/** consumer → every ws-server: the user has new or updated notifications in the buffer. */
export interface WakeMessage {
  userId: string;
  notificationIds: string[];
}

export const JSON_CONTENT_TYPE = 'application/json';

export function encodeJson(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body));
}

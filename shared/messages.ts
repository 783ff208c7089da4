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

/**
 * consumer → every ws-server: the user has new or updated notifications in the buffer. `kind`
 * is optional so wakes published before it existed still parse as notification wakes.
 */
export interface WakeMessage {
  kind?: 'notifications';
  userId: string;
  notificationIds: string[];
}

/** producer → every ws-server (same fanout exchange as wakes): a read changed the user's unread count. */
export interface UnreadChangedMessage {
  kind: 'unread';
  userId: string;
}

/** Everything published on topology.wakeExchange. */
export type WakeExchangeMessage = WakeMessage | UnreadChangedMessage;

/**
 * consumer → consumer, through the wake delay ladder (topology.wakeDelayQueues): a wake held
 * back by a do-not-disturb window, published to the wake exchange once `dueAtMs` has passed.
 */
export interface DelayedWakeMessage extends WakeMessage {
  /** Epoch ms. */
  dueAtMs: number;
}

export const JSON_CONTENT_TYPE = 'application/json';

export function encodeJson(body: unknown): Buffer {
  return Buffer.from(JSON.stringify(body));
}

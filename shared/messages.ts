import type { Notification } from './notification.js';

/**
 * Bodies of the messages between services (JSON; on AMQP persistent, contentType
 * application/json). The event body itself is defined by the Joi schema in shared/schemas.
 * A persist job carries whole `Notification`s (shared/notification.ts), so jobs can store them
 * even if Redis lost the buffered copies.
 */

/**
 * consumer → jobs, through the persist delay queue: every notification one flush of the consumer
 * committed (one broker message per flush, not per notification). jobs still accepts a bare
 * `Notification` body, the format before batches, so messages already queued during a rolling
 * deploy are stored too.
 */
export interface PersistBatchMessage {
  notifications: Notification[];
}

/**
 * ws-server → jobs: the acks of one ACK frame (one broker message per frame). jobs still
 * accepts the single `AckMessage` body, the format before batches.
 */
export interface AckBatchMessage {
  userId: string;
  /** ISO 8601. */
  ackedAt: string;
  notificationIds: string[];
  /**
   * Parallel to notificationIds: the version each ack settled; a stored copy of a higher version
   * (a grown aggregate stored after the ack) is not marked delivered. Absent from ws-servers
   * before it: then any version is.
   */
  versions?: number[];
}

/** ws-server → jobs: a user acked a notification (the format before AckBatchMessage; still accepted). */
export interface AckMessage {
  notificationId: string;
  userId: string;
  /** ISO 8601. */
  ackedAt: string;
}

/**
 * consumer → the ws-servers holding the user: new or updated notifications in the buffer. `kind`
 * is optional so wakes published before it existed still parse as notification wakes.
 */
export interface WakeMessage {
  kind?: 'notifications';
  userId: string;
  notificationIds: string[];
}

/** producer → the ws-servers holding the user (routed like every wake): a read changed the user's unread count. */
export interface UnreadChangedMessage {
  kind: 'unread';
  userId: string;
}

/**
 * consumer → the ws-servers holding the user, from inside the buffer commit script: the
 * committed version itself and the user's unread count after it, so the ws-server pushes
 * without reading Redis. Absent
 * `unread` means the counter is missing (a rebuild is due; the ws-server reads it its own way).
 */
export interface PushWakeMessage {
  kind: 'push';
  userId: string;
  notification: Notification;
  unread?: { count: number; version: number };
}

/**
 * Everything published on a ws-server instance's wake channel (keys.wakeChannel, routed by
 * shared/wake-channel.ts): pub/sub, at most once. A lost wake costs latency only: the buffer is
 * the truth, and AUTH replay, redelivery and the ws-server's resync after its subscriber
 * reconnects or its route lapses bring everything pending.
 */
export type WakeExchangeMessage = WakeMessage | UnreadChangedMessage | PushWakeMessage;

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

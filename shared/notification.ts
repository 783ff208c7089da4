/**
 * A notification as it travels after the consumer made it: buffered in Redis, carried in the
 * delayed persist job, pushed on the socket, stored in MongoDB. One shape end to end.
 */
export interface Notification {
  /** uuid v7: time-ordered, so ids sort roughly by creation. */
  id: string;
  /** The recipient. */
  userId: string;
  /** Per-user, strictly increasing; clients resume with `lastSeq`. */
  seq: number;
  type: string;
  /** AMQP priority (higher first); see shared/priority.ts. */
  priority: number;
  /** Most recent first, distinct. */
  actors: string[];
  actorCount: number;
  objectId: string | null;
  message: string;
  /** ISO 8601. */
  createdAt: string;
  /** Grows when an aggregate absorbs another event; same id, higher version. */
  version: number;
  eventIds: string[];
}

export function encodeNotification(n: Notification): string {
  return JSON.stringify(n);
}

export function decodeNotification(raw: string): Notification {
  return JSON.parse(raw) as Notification;
}

import type { AnyBulkWriteOperation } from 'mongoose';
import type { Notification } from '../notification.js';
import type { NotificationDoc, NotificationStatus } from './notification.js';

/**
 * The one rule every writer of a stored notification follows: state only moves forward
 * (undelivered → delivered → read) and the body only moves to a higher aggregate version. Each
 * transition is its own update whose filter names the states it may leave, so a replayed or
 * late message matches nothing instead of moving a document back. Only the insert upserts, and
 * its filter is the bare _id, so an upsert can never collide with a document in a later state.
 */

export const UNREAD_STATUSES: readonly NotificationStatus[] = ['undelivered', 'delivered'];

export interface DeliveryState {
  /** Epoch ms of the ack, or null if the notification was never acked (or Redis forgot). */
  ackedAtMs: number | null;
  /** Epoch ms the user read it before it was stored, or null. */
  readAtMs: number | null;
}

function body(n: Notification) {
  return {
    userId: n.userId,
    seq: n.seq,
    type: n.type,
    actors: n.actors,
    actorCount: n.actorCount,
    objectId: n.objectId,
    message: n.message,
    priority: n.priority,
    version: n.version,
    eventIds: n.eventIds,
    createdAt: new Date(n.createdAt),
  };
}

/** The state a notification is first stored in, from what Redis knew at flush time. */
function initialState(state: DeliveryState) {
  if (state.readAtMs !== null) {
    return { status: 'read' as const, deliveredAt: new Date(state.ackedAtMs ?? state.readAtMs), readAt: new Date(state.readAtMs) };
  }
  if (state.ackedAtMs !== null) return { status: 'delivered' as const, deliveredAt: new Date(state.ackedAtMs), readAt: null };
  return { status: 'undelivered' as const, deliveredAt: null, readAt: null };
}

/**
 * Operations that store one persist job's notification: an insert-only upsert that carries the
 * flush-time state, and, for a grown aggregate, a body update. A document that already exists
 * is advanced separately with `deliveredOp` / `readOp`.
 */
export function persistOps(n: Notification, state: DeliveryState, now: Date): AnyBulkWriteOperation<NotificationDoc>[] {
  const ops: AnyBulkWriteOperation<NotificationDoc>[] = [
    {
      updateOne: {
        filter: { _id: n.id },
        update: { $setOnInsert: { ...body(n), ...initialState(state), persistedAt: now } },
        upsert: true,
      },
    },
  ];
  // Version 1 is the lowest: only a grown aggregate (same id, higher version) replaces a body.
  if (n.version > 1) ops.push({ updateOne: { filter: { _id: n.id, version: { $lt: n.version } }, update: { $set: body(n) } } });
  return ops;
}

/** undelivered → delivered. */
export function deliveredOp(id: string, at: Date, userId?: string) {
  return {
    filter: { _id: id, status: 'undelivered' as const, ...(userId === undefined ? {} : { userId }) },
    update: { $set: { status: 'delivered' as const, deliveredAt: at } },
  };
}

/** undelivered | delivered → read. Delivery is implied by reading, so deliveredAt is kept or filled. */
export function readOp(id: string, at: Date, userId?: string) {
  return {
    filter: { _id: id, status: { $in: [...UNREAD_STATUSES] }, ...(userId === undefined ? {} : { userId }) },
    update: { $set: { status: 'read' as const, readAt: at } },
  };
}

/** Every unread notification of a user → read. */
export function readAllOp(userId: string, at: Date) {
  return {
    filter: { userId, status: { $in: [...UNREAD_STATUSES] } },
    update: { $set: { status: 'read' as const, readAt: at } },
  };
}

import type { Notification } from '../notification.js';
import type { NotificationDoc, NotificationStatus } from './notification.js';

/**
 * The one rule every writer of a stored notification follows: state only moves forward
 * (undelivered → delivered → read) and the body only moves to a higher aggregate version. Each
 * transition is its own update whose filter names the states it may leave, so a replayed or
 * late message matches nothing instead of moving a document back. Nothing upserts: a document
 * comes into being only by `insertDoc`, so no update can create one in the wrong state.
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
    return {
      status: 'read' as const,
      deliveredAt: new Date(state.ackedAtMs ?? state.readAtMs),
      readAt: new Date(state.readAtMs),
    };
  }
  if (state.ackedAtMs !== null)
    return { status: 'delivered' as const, deliveredAt: new Date(state.ackedAtMs), readAt: null };
  return { status: 'undelivered' as const, deliveredAt: null, readAt: null };
}

/**
 * The document a persist job's notification is first stored as, carrying the flush-time state.
 * Stored with a plain insert: a replayed job hits the duplicate _id and changes nothing, and an
 * insert never needs to find a document first (an upsert does, which costs a collection scan on
 * stores without an _id lookup in updates, e.g. FerretDB 1.24; docs/persistence.md).
 */
export function insertDoc(n: Notification, state: DeliveryState, now: Date): NotificationDoc {
  return { _id: n.id, ...body(n), ...initialState(state), persistedAt: now };
}

/**
 * For a notification already stored: a grown aggregate (same id, higher version) replaces the
 * body. Version 1 is the lowest, so it never needs this.
 */
export function newerBodyOp(n: Notification) {
  if (n.version <= 1) return null;
  return { filter: { _id: n.id, version: { $lt: n.version } }, update: { $set: body(n) } };
}

/**
 * undelivered → delivered. `upToVersion`: the version the ack settled; a copy of a higher version
 * (a grown aggregate stored after the ack) stays undelivered, its own ack is still to come.
 */
export function deliveredOp(id: string, at: Date, userId?: string, upToVersion?: number) {
  return {
    filter: {
      _id: id,
      status: 'undelivered' as const,
      ...(userId === undefined ? {} : { userId }),
      ...(upToVersion === undefined ? {} : { version: { $lte: upToVersion } }),
    },
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

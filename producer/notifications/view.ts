import type { NotificationDoc } from '../../shared/models/index.js';

/** A stored notification as the HTTP API shows it: the socket's field names, plus its state. */
export function toView(d: NotificationDoc) {
  return {
    id: d._id,
    userId: d.userId,
    seq: d.seq,
    type: d.type,
    priority: d.priority,
    actors: d.actors,
    actorCount: d.actorCount,
    objectId: d.objectId,
    message: d.message,
    version: d.version,
    status: d.status,
    createdAt: d.createdAt.toISOString(),
    deliveredAt: d.deliveredAt?.toISOString() ?? null,
    readAt: d.readAt?.toISOString() ?? null,
  };
}

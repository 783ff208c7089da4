import type { NotificationDoc } from '../../shared/models/index.js';
import type { NotificationView } from '../../shared/protocol/http.js';

/**
 * A stored notification as the HTTP API shows it: the socket's field names, plus its state. Typed
 * by shared/protocol/http.ts, which the client (client/http.ts) reads its answers with.
 */
export function toView(d: NotificationDoc): NotificationView {
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

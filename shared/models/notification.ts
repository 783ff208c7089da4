import { Schema, type Connection, type Model } from 'mongoose';

export const NOTIFICATION_STATUSES = ['undelivered', 'delivered', 'read'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

export interface NotificationDoc {
  _id: string;
  userId: string;
  seq: number;
  type: string;
  actors: string[];
  actorCount: number;
  objectId: string | null;
  message: string;
  priority: number;
  status: NotificationStatus;
  version: number;
  eventIds: string[];
  createdAt: Date;
  deliveredAt: Date | null;
  readAt: Date | null;
  persistedAt: Date;
}

const notificationSchema = new Schema<NotificationDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    seq: { type: Number, required: true },
    type: { type: String, required: true },
    actors: { type: [String], default: [] },
    actorCount: { type: Number, default: 0 },
    objectId: { type: String, default: null },
    message: { type: String, required: true },
    priority: { type: Number, required: true },
    status: { type: String, enum: NOTIFICATION_STATUSES, required: true },
    version: { type: Number, default: 1 },
    eventIds: { type: [String], default: [] },
    createdAt: { type: Date, required: true },
    deliveredAt: { type: Date, default: null },
    readAt: { type: Date, default: null },
    persistedAt: { type: Date, required: true },
  },
  { collection: 'notifications', versionKey: false, _id: false },
);

// Every query on this collection names one user (or looks up _id), so every index starts with
// userId. Each serves the queries named in its comment; test/integration/mongo-indexes.test.ts
// checks that the store really has them, and docs/persistence.md what each query costs.

// History page (producer/notifications/history.ts without a status filter): userId, newest
// first with a stable cursor; createdAt alone ties, so the id breaks ties. Also
// countDocuments({ userId }) of the per-user cap (jobs/cap.ts) by its userId prefix.
notificationSchema.index({ userId: 1, createdAt: -1, _id: -1 });
// userId + status, then the history order: the unread count (shared/unread.ts,
// status $in [undelivered, delivered]) and mark-all-read (producer/notifications/read.ts,
// the same filter in updateMany) by the userId + status prefix; status-filtered history pages
// (createdAt desc, _id desc) in index order (`status=unread`: two such ranges, merged); and the cap's oldest read ones first
// (jobs/cap.ts: status 'read', createdAt asc, _id asc) by walking it backwards. _id is in the
// key so neither sort needs an in-memory pass over the user's documents.
// (It replaced { userId: 1, status: 1, createdAt: -1 }; ensureIndexes never drops, so a
// database created before keeps that one too, redundant: drop it by hand when convenient.)
notificationSchema.index({ userId: 1, status: 1, createdAt: -1, _id: -1 });
// Replay on reconnect (ws-server/replay.ts): userId + status 'undelivered', highest priority
// first, oldest first within a priority, limit 500; the same filter's countDocuments gives the
// total. Without it, the sort reads and orders every undelivered document of the user.
notificationSchema.index({ userId: 1, status: 1, priority: -1, seq: 1 });

export function notificationModel(connection: Connection): Model<NotificationDoc> {
  return (
    (connection.models.Notification as Model<NotificationDoc> | undefined) ??
    connection.model<NotificationDoc>('Notification', notificationSchema)
  );
}

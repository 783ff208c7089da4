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

// Newest-first history with a stable cursor: createdAt alone ties, so the id breaks ties.
notificationSchema.index({ userId: 1, createdAt: -1, _id: -1 });
// Unread count and status-filtered history.
notificationSchema.index({ userId: 1, status: 1, createdAt: -1 });

export function notificationModel(connection: Connection): Model<NotificationDoc> {
  return (connection.models.Notification as Model<NotificationDoc> | undefined) ??
    connection.model<NotificationDoc>('Notification', notificationSchema);
}

import type { Models, NotificationStatus } from '../../shared/models/index.js';
import { UNREAD_STATUSES } from '../../shared/models/notification-state.js';
import { decodeCursor, encodeCursor, olderThan } from './cursor.js';
import { toView } from './view.js';

export interface HistoryQuery {
  userId: string;
  limit: number;
  before?: string;
  status?: NotificationStatus;
}

/** One page of a user's stored notifications, newest first, and the cursor of the next. */
export async function historyPage(models: Models, q: HistoryQuery) {
  const filter = {
    userId: q.userId,
    ...(q.status ? { status: q.status } : {}),
    ...(q.before ? olderThan(decodeCursor(q.before)) : {}),
  };
  // One extra row says whether another page exists without a second query.
  const rows = await models.Notification.find(filter).sort({ createdAt: -1, _id: -1 }).limit(q.limit + 1).lean();
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    notifications: page.map(toView),
    nextCursor: rows.length > q.limit && last ? encodeCursor({ createdAtMs: last.createdAt.getTime(), id: last._id }) : null,
  };
}

export async function unreadCount(models: Models, userId: string): Promise<number> {
  return models.Notification.countDocuments({ userId, status: { $in: [...UNREAD_STATUSES] } });
}

import type { Redis } from 'ioredis';
import type { Models, NotificationStatus } from '../../shared/models/index.js';
import { readUnread, type UnreadState } from '../../shared/unread.js';
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

/** The live count and its version: the same numbers the WebSocket frames carry (shared/unread.ts). */
export async function unreadCount(models: Models, redis: Redis, userId: string): Promise<UnreadState> {
  return readUnread(redis, models, userId);
}

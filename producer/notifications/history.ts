import type { Redis } from '../../shared/redis.js';
import type { Models, NotificationStatus } from '../../shared/models/index.js';
import { UNREAD_STATUSES } from '../../shared/models/notification-state.js';
import type { HistoryPageBody } from '../../shared/protocol/http.js';
import { readUnread, type UnreadState } from '../../shared/unread.js';
import { decodeCursor, encodeCursor, olderThan } from './cursor.js';
import { toView } from './view.js';

/** The history's status filter: one status, or `unread` (undelivered or delivered). */
export const HISTORY_UNREAD = 'unread';
export type HistoryStatus = NotificationStatus | typeof HISTORY_UNREAD;

export interface HistoryQuery {
  userId: string;
  limit: number;
  before?: string;
  status?: HistoryStatus;
}

/** One page of a user's stored notifications, newest first, and the cursor of the next. */
export async function historyPage(models: Models, q: HistoryQuery): Promise<HistoryPageBody> {
  const filter = {
    userId: q.userId,
    ...(q.status === HISTORY_UNREAD ? { status: { $in: [...UNREAD_STATUSES] } } : q.status ? { status: q.status } : {}),
    ...(q.before ? olderThan(decodeCursor(q.before)) : {}),
  };
  // One extra row says whether another page exists without a second query.
  const rows = await models.Notification.find(filter)
    .sort({ createdAt: -1, _id: -1 })
    .limit(q.limit + 1)
    .lean();
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    notifications: page.map(toView),
    nextCursor:
      rows.length > q.limit && last ? encodeCursor({ createdAtMs: last.createdAt.getTime(), id: last._id }) : null,
  };
}

/** The live count and its version: the same numbers the WebSocket frames carry (shared/unread.ts). */
export async function unreadCount(models: Models, redis: Redis, userId: string): Promise<UnreadState> {
  return readUnread(redis, models, userId);
}

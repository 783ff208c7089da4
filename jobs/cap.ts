import type { Model } from 'mongoose';
import type { NotificationDoc } from '../shared/models/index.js';

/**
 * MAX_STORED_PER_USER: a user keeps at most that many stored notifications, but only read ones
 * are ever removed (oldest first), so nothing the user has not seen is dropped. Runs for the
 * users a batch touched, never as a scan over all users.
 */
export async function enforceCap(
  Notification: Model<NotificationDoc>,
  userIds: Iterable<string>,
  maxPerUser: number,
): Promise<number> {
  const removed = await Promise.all(
    [...new Set(userIds)].map(async (userId) => {
      const stored = await Notification.countDocuments({ userId });
      const excess = stored - maxPerUser;
      if (excess <= 0) return 0;
      const oldestRead = await Notification.find({ userId, status: 'read' })
        .sort({ createdAt: 1, _id: 1 })
        .limit(excess)
        .select({ _id: 1 })
        .lean();
      if (oldestRead.length === 0) return 0;
      const result = await Notification.deleteMany({ _id: { $in: oldestRead.map((d) => d._id) }, status: 'read' });
      return result.deletedCount;
    }),
  );
  return removed.reduce((a, b) => a + b, 0);
}

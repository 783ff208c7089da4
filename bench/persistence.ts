import mongoose from 'mongoose';
import { forEachLimited } from '../shared/each-limited.js';
import { notificationModel } from '../shared/models/notification.js';
import { summarize, type LatencySummary } from './stats.js';
import type { Tracker } from './tracker.js';

const QUERIES_IN_FLIGHT = 8;

export interface PersistenceResult {
  expected: number;
  /** Every delivered notification stored as delivered before the bound ran out. */
  complete: boolean;
  stored: number;
  storedDelivered: number;
  /** Client ACK (wall clock) → MongoDB `persistedAt`, for notifications stored after their ACK. */
  ackToPersisted: LatencySummary;
  /** Stored before the ACK (persist delay shorter than delivery): moved to delivered by the acks path. */
  persistedBeforeAck: number;
  seconds: number;
  storedPerSecondWhileWaiting: number;
}

/**
 * Waits (bounded) until every delivered notification is stored in MongoDB as delivered, then
 * reads the stored documents once to measure ACK → persisted from the client's ACK clock. Only
 * the documents of `userIds` (the run's recipients) count: an aged database
 * (`--aged-notifications`) holds many more, delivered ones among them, for other users.
 */
export async function waitForPersistence(
  mongoUrl: string,
  userIds: string[],
  tracker: Tracker,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<PersistenceResult> {
  const connection = await mongoose.createConnection(mongoUrl).asPromise();
  const start = performance.now();
  try {
    const Notification = notificationModel(connection);
    const expected = tracker.delivered + tracker.warmupDelivered;
    // Every query is per user, a few at a time: { userId, status, createdAt } is indexed, and an
    // equality on userId reaches it on FerretDB too, where `userId: { $in: [...] }` is not pushed
    // down and decodes every document: 100 s and more for 230,000 of them, longer than the wait.
    const perUser = async <R>(query: (userId: string) => Promise<R>): Promise<R[]> => {
      const out = new Array<R>(userIds.length);
      await forEachLimited(userIds, QUERIES_IN_FLIGHT, async (userId, i) => {
        out[i] = await query(userId);
      });
      return out;
    };
    const countOurs = async (filter: Record<string, unknown>) =>
      (await perUser((userId) => Notification.countDocuments({ userId, ...filter }))).reduce((a, b) => a + b, 0);
    let storedDelivered = 0;
    const storedAtStart = await countOurs({});
    // Counted at least once, however long the first count took.
    do {
      storedDelivered = await countOurs({ status: 'delivered' });
      progress(`persist: ${storedDelivered}/${expected} stored as delivered`);
      if (storedDelivered >= expected) break;
      await new Promise((r) => setTimeout(r, 1000));
    } while (performance.now() - start < timeoutMs);
    const docs = (await perUser((userId) => Notification.find({ userId }, { _id: 1, persistedAt: 1 }).lean())).flat();
    const ackToPersisted: number[] = [];
    let persistedBeforeAck = 0;
    const ackOf = new Map<string, number>();
    for (const r of tracker.events.values())
      if (r.notificationId && r.ackedWallMs !== undefined) ackOf.set(r.notificationId, r.ackedWallMs);
    for (const doc of docs) {
      const acked = ackOf.get(doc._id);
      if (acked === undefined) continue;
      const delay = doc.persistedAt.getTime() - acked;
      if (delay >= 0) ackToPersisted.push(delay);
      else persistedBeforeAck++;
    }
    return {
      expected,
      complete: storedDelivered >= expected,
      stored: docs.length,
      storedDelivered,
      ackToPersisted: summarize(ackToPersisted),
      persistedBeforeAck,
      seconds: Math.round(performance.now() - start) / 1000,
      /** How fast jobs stored while the harness waited: the persistence path's own throughput. */
      storedPerSecondWhileWaiting:
        Math.round(((docs.length - storedAtStart) / (performance.now() - start)) * 1000 * 10) / 10,
    };
  } finally {
    await connection.close();
  }
}

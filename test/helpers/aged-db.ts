import { randomUUID } from 'node:crypto';
import type { Connection } from 'mongoose';
import { NOTIFICATION_STATUSES, type NotificationDoc } from '../../shared/models/notification.js';

/**
 * An aged database: what a small app's `notifications` collection holds after a few weeks, so
 * tests and the bench run where users do instead of on an empty store. The documents belong to
 * other users (`aged-user-<n>` by default), in every status, spread over the past 30 days, and
 * go in through the driver's insertMany in unordered batches: ~200,000 documents load in tens
 * of seconds, not the minutes one-by-one writes would take.
 */
export interface AgedOptions {
  /** Documents to insert. */
  count: number;
  /** How many distinct owners they are spread over (default count / 200). */
  users?: number;
  /** Owner ids are `${userPrefix}${n}` (default 'aged-user-'). */
  userPrefix?: string;
  /** Documents per insertMany (default 5,000). */
  batchSize?: number;
  /** Batches in flight at once (default 2). */
  concurrency?: number;
}

export interface AgedResult {
  inserted: number;
  elapsedMs: number;
}

const TYPES = ['LIKE', 'COMMENT', 'FOLLOW', 'MENTION', 'REPLY', 'ORDER', 'SECURITY', 'PROMO'] as const;
const USER_PREFIX = 'aged-user-';

/** The id of the n-th owner of an aged store loaded with the default prefix. */
export const agedUserId = (n: number): string => `${USER_PREFIX}${n}`;
const DAY_MS = 24 * 3600 * 1000;

export async function loadAgedNotifications(connection: Connection, options: AgedOptions): Promise<AgedResult> {
  const startedAt = performance.now();
  const users = Math.max(1, options.users ?? Math.ceil(options.count / 200));
  const prefix = options.userPrefix ?? USER_PREFIX;
  const batchSize = options.batchSize ?? 5000;
  const concurrency = options.concurrency ?? 2;
  const collection = connection.collection<NotificationDoc>('notifications');
  const now = Date.now();
  const seqs = new Map<number, number>();

  const makeDoc = (i: number): NotificationDoc => {
    const owner = i % users;
    const seq = (seqs.get(owner) ?? 0) + 1;
    seqs.set(owner, seq);
    const type = TYPES[i % TYPES.length] as string;
    // Mostly delivered or read, as an aged inbox is; some stayed undelivered (offline users).
    const status = NOTIFICATION_STATUSES[i % 10 === 0 ? 0 : i % 3 === 0 ? 2 : 1] as NotificationDoc['status'];
    const createdAt = new Date(now - 30 * DAY_MS + Math.floor((i / options.count) * 30 * DAY_MS));
    return {
      _id: randomUUID(),
      userId: `${prefix}${owner}`,
      seq,
      type,
      actors: [`aged-actor-${i % 97}`],
      actorCount: 1,
      objectId: `aged-post-${i % 1013}`,
      message: `aged-actor-${i % 97} did ${type.toLowerCase()} on your post`,
      priority: type === 'SECURITY' || type === 'ORDER' ? 10 : type === 'PROMO' ? 1 : 5,
      status,
      version: 1,
      eventIds: [randomUUID()],
      createdAt,
      deliveredAt: status === 'undelivered' ? null : createdAt,
      readAt: status === 'read' ? createdAt : null,
      persistedAt: createdAt,
    };
  };

  let next = 0;
  let inserted = 0;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const from = next;
      const to = Math.min(options.count, from + batchSize);
      next = to;
      const docs: NotificationDoc[] = [];
      for (let i = from; i < to; i += 1) docs.push(makeDoc(i));
      const result = await collection.insertMany(docs, { ordered: false });
      inserted += result.insertedCount;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { inserted, elapsedMs: Math.round(performance.now() - startedAt) };
}

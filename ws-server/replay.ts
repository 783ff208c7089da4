import type { Redis } from 'ioredis';
import { ackedAt, pendingScore, readPending, type Pending } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { isReplayClean, markReplayClean } from '../shared/replay-clean.js';
import type { Models, NotificationDoc } from '../shared/models/index.js';
import type { Notification } from '../shared/notification.js';
import { doNotDisturbHoldsUntil, type PreferenceStore } from '../shared/preferences.js';

export interface Replay {
  /** In replay order (priority desc, then seq asc), at most the replay limit. */
  notifications: Notification[];
  /**
   * Unacked notifications known for the user after lastSeq (Redis pending + MongoDB
   * undelivered), less those held back by do-not-disturb among the candidates.
   */
  pending: number;
  /** False when more remain than were replayed: the client must page the history API. */
  recovered: boolean;
}

/**
 * What a freshly authenticated socket receives: the Redis buffer first (the truth while it
 * lasts), completed by MongoDB's undelivered notifications that are no longer buffered, merged
 * in one order without duplicates. A notification acked in Redis but not yet marked delivered
 * in MongoDB (jobs is a little behind) is not replayed.
 */
export async function planReplay(
  stores: { redis: Redis; models: Models; bufferTtlSeconds: number },
  userId: string,
  limit: number,
  lastSeq?: number,
  holdRule: Promise<HoldRule> = Promise.resolve(() => false),
): Promise<Replay> {
  const { redis, models } = stores;
  const fromRedis = await redisCandidates(redis, userId, limit, lastSeq);
  const fromMongo = (await isReplayClean(redis, userId))
    ? { notifications: [], total: 0 }
    : await mongoCandidates(redis, models, userId, limit, lastSeq, fromRedis.window);
  if (fromMongo.total === 0) await markReplayClean(redis, userId, fromRedis.oldestPendingAtMs, stores.bufferTtlSeconds);
  const heldBack = await holdRule;

  const merged = [...fromRedis.window, ...fromMongo.notifications].sort((a, b) => pendingScore(a) - pendingScore(b));
  const held = merged.filter(heldBack).length;
  const notifications = merged.filter((n) => !heldBack(n)).slice(0, limit);
  const pending = fromRedis.total + fromMongo.total - held;
  return { notifications, pending, recovered: pending <= notifications.length };
}

/** True for a notification that must not be pushed yet. */
export type HoldRule = (n: Notification) => boolean;

/**
 * The replay side of do-not-disturb (consumer/preferences.ts decides it for live delivery):
 * while the user's window is open, only transactional notifications replay; the others stay
 * pending and arrive with the delayed wake when the window ends (consumer/delayed-wake.ts),
 * or in the replay of a socket that connects after it.
 */
export async function doNotDisturbHold(store: PreferenceStore, userId: string, nowMs = Date.now()): Promise<HoldRule> {
  const prefs = await store.read(userId);
  return (n) => doNotDisturbHoldsUntil(prefs, n.type, nowMs) !== null;
}

async function redisCandidates(redis: Redis, userId: string, limit: number, lastSeq?: number) {
  const first = await readPending(redis, userId, limit);
  const oldestPendingAtMs = oldestOf(first);
  if (lastSeq === undefined) return { window: first.notifications, total: first.total, oldestPendingAtMs };
  // Resuming: only what came after lastSeq counts, wherever it ranks in priority order.
  const all = first.total > limit ? await readPending(redis, userId, first.total) : first;
  const after = all.notifications.filter((n) => n.seq > lastSeq);
  return { window: after.slice(0, limit), total: after.length, oldestPendingAtMs: oldestOf(all) };
}

/** When the oldest pending notification was created; undefined when not all were read. */
function oldestOf(pending: Pending): number | null | undefined {
  if (pending.total > pending.notifications.length) return undefined;
  if (pending.notifications.length === 0) return null;
  return Math.min(...pending.notifications.map((n) => Date.parse(n.createdAt)));
}


/**
 * Undelivered MongoDB notifications outside the Redis window. Excluding the window's ids is
 * enough to avoid duplicates: a buffered id outside the window ranks after the whole window,
 * and the window is only short of the limit when it holds everything Redis has.
 */
async function mongoCandidates(
  redis: Redis,
  models: Models,
  userId: string,
  limit: number,
  lastSeq: number | undefined,
  window: Notification[],
): Promise<{ notifications: Notification[]; total: number }> {
  const filter = {
    userId,
    status: 'undelivered' as const,
    _id: { $nin: window.map((n) => n.id) },
    ...(lastSeq === undefined ? {} : { seq: { $gt: lastSeq } }),
  };
  const docs = await models.Notification.find(filter).sort({ priority: -1, seq: 1 }).limit(limit).lean<NotificationDoc[]>();
  if (docs.length === 0) return { notifications: [], total: 0 };
  const ids = docs.map((d) => d._id);
  const [acked, buffered] = await Promise.all([ackedAt(redis, ids), redis.zmscore(keys.inbox(userId), ...ids)]);
  const stale = new Set(ids.filter((_, i) => acked[i] !== null || buffered[i] !== null));
  const notifications = docs.filter((d) => !stale.has(d._id)).map(toNotification);
  const total = docs.length < limit ? notifications.length : (await models.Notification.countDocuments(filter)) - stale.size;
  return { notifications, total };
}

function toNotification(doc: NotificationDoc): Notification {
  return {
    id: doc._id,
    userId: doc.userId,
    seq: doc.seq,
    type: doc.type,
    priority: doc.priority,
    actors: doc.actors,
    actorCount: doc.actorCount,
    objectId: doc.objectId,
    message: doc.message,
    createdAt: new Date(doc.createdAt).toISOString(),
    version: doc.version,
    eventIds: doc.eventIds,
  };
}

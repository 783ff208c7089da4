import type { Redis } from 'ioredis';
import { ackedAt, readPending, type Pending } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { isReplayClean, markReplayClean } from '../shared/replay-clean.js';
import type { Models, NotificationDoc } from '../shared/models/index.js';
import type { Notification } from '../shared/notification.js';
import { doNotDisturbHoldsUntil, type PreferenceStore } from '../shared/preferences.js';

export interface Replay {
  /** What Redis buffers for the user, in replay order (priority desc, then seq asc), at most the replay limit. */
  notifications: Notification[];
  /** Unacked notifications Redis buffers for the user after lastSeq, less those do-not-disturb holds back. */
  pending: number;
  /**
   * True only when the replay is everything the user missed: Redis held no more than the limit
   * and the replay-clean mark says MongoDB holds nothing undelivered outside the buffer.
   */
  recovered: boolean;
  /** MongoDB may hold undelivered notifications older than the buffer: a catch-up follows AUTH_OK. */
  catchingUp: boolean;
  /** For the catch-up: the Redis window, and when its oldest notification was created. */
  window: Notification[];
  oldestPendingAtMs: number | null | undefined;
}

/**
 * What a freshly authenticated socket receives before AUTH_OK: Redis alone (the buffer is the
 * truth while it lasts), so AUTH costs a few Redis reads whatever MongoDB is doing. What only
 * MongoDB holds (undelivered notifications older than the buffer, or lost by Redis) is found by
 * the catch-up after AUTH_OK (catch-up.ts), unless the replay-clean mark says there is none.
 */
export async function planReplay(
  redis: Redis,
  userId: string,
  limit: number,
  lastSeq?: number,
  holdRule: Promise<HoldRule> = Promise.resolve(() => false),
): Promise<Replay> {
  const [fromRedis, clean] = await Promise.all([redisCandidates(redis, userId, limit, lastSeq), isReplayClean(redis, userId)]);
  const heldBack = await holdRule;
  const held = fromRedis.window.filter(heldBack).length;
  const notifications = fromRedis.window.filter((n) => !heldBack(n));
  const pending = fromRedis.total - held;
  return {
    notifications,
    pending,
    recovered: clean && pending <= notifications.length,
    catchingUp: !clean,
    window: fromRedis.window,
    oldestPendingAtMs: fromRedis.oldestPendingAtMs,
  };
}

export interface CatchUp {
  /** MongoDB-only notifications to push, in replay order, at most what the limit leaves. */
  notifications: Notification[];
  /** Everything pending for the user: the Redis part of the replay plus what MongoDB adds. */
  pending: number;
  recovered: boolean;
}

/**
 * The MongoDB half of a replay, run after AUTH_OK: undelivered notifications outside the Redis
 * window, less what was acked or is buffered meanwhile. Finding none marks the user replay-clean
 * (shared/replay-clean.ts), so the next AUTH skips MongoDB entirely.
 */
export async function catchUpFromStore(
  stores: { redis: Redis; models: Models; bufferTtlSeconds: number },
  userId: string,
  limit: number,
  lastSeq: number | undefined,
  replay: Replay,
  heldBack: HoldRule,
): Promise<CatchUp> {
  const fromMongo = await mongoCandidates(stores.redis, stores.models, userId, limit, lastSeq, replay.window);
  if (fromMongo.total === 0) await markReplayClean(stores.redis, userId, replay.oldestPendingAtMs, stores.bufferTtlSeconds);
  const room = Math.max(0, limit - replay.notifications.length);
  const held = fromMongo.notifications.filter(heldBack).length;
  const notifications = fromMongo.notifications.filter((n) => !heldBack(n)).slice(0, room);
  const pending = replay.pending + fromMongo.total - held;
  return { notifications, pending, recovered: pending <= replay.notifications.length + notifications.length };
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

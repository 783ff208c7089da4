import type { Redis } from '../shared/redis.js';
import { ackedAt } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { markReplayClean } from '../shared/replay-clean.js';
import type { Models, NotificationDoc } from '../shared/models/index.js';
import type { Notification } from '../shared/notification.js';
import { doNotDisturbHoldsUntil, type Preferences, type PreferenceStore } from '../shared/preferences.js';
import type { UnreadState } from '../shared/unread.js';
import { readReplayState, type ReplayState, type RouteRegistration } from './replay-state.js';
import type { UnreadReader } from './unread.js';

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
  /**
   * AUTH_OK's `seq`: every notification of the user up to it is acked, held back or in this
   * replay (read in the same call), so a client that receives the whole replay may resume from
   * it. Kept below the first one do-not-disturb holds back, which the replay leaves out.
   */
  seq: number;
  /**
   * The resume point the replay followed: the client's `lastSeq`, or undefined when it sent none
   * or when it was above the user's seq and ignored (`resumeReset`). The catch-up uses this one.
   */
  lastSeq: number | undefined;
  /**
   * The client's `lastSeq` was above the user's latest seq, which only a Redis that lost the
   * user's keys makes possible (a restart without persistence, a failover to a replica that was
   * behind: the seq counter started again, docs/reliability.md). Followed, it would hide every
   * pending notification (their seqs all sit below it), so the replay is a whole one and AUTH_OK
   * says so: the client drops its point and takes the server's `seq` after this replay.
   */
  resumeReset: boolean;
}

/** What AUTH needs besides the replay: the unread count and the do-not-disturb rule. */
export interface AuthRead {
  replay: Replay;
  /** Undefined when neither Redis nor a quick rebuild had it (the frame goes without). */
  unread: UnreadState | undefined;
  heldBack: HoldRule;
}

export interface ReplayDeps {
  redis: Redis;
  keyPrefix: string;
  preferences: PreferenceStore;
  readUnread: UnreadReader;
  /** This instance, registered in the user's route by the same call that reads (route.ts). */
  route: RouteRegistration;
}

/**
 * What a freshly authenticated socket receives before AUTH_OK: Redis alone (the buffer is the
 * truth while it lasts), read in one call (replay-state.lua), so AUTH costs one round trip
 * whatever MongoDB is doing. Only a preferences copy or an unread counter Redis lacks is read
 * the slower way (from MongoDB in the background, waited on for at most MONGO_FALLBACK_WAIT_MS).
 * What only MongoDB holds (undelivered notifications older than the buffer, or lost by Redis) is
 * found by the catch-up after AUTH_OK (catch-up.ts), unless the replay-clean mark says there is none.
 */
export async function planReplay(deps: ReplayDeps, userId: string, limit: number, lastSeq?: number): Promise<AuthRead> {
  // Resuming: only what came after lastSeq counts, wherever it ranks in priority order; the
  // script reads the first `limit` of those per priority band, never the whole inbox.
  const state = await readReplayState(
    deps.redis,
    deps.keyPrefix,
    userId,
    lastSeq === undefined ? { limit } : { limit, lastSeq },
    deps.route,
  );
  const [prefs, unread] = await Promise.all([
    state.preferences ?? deps.preferences.read(userId),
    state.unread ?? deps.readUnread(userId),
  ]);
  const heldBack = holdRule(prefs, Date.now());
  const window = state.notifications;
  const heldSeqs = window.filter(heldBack).map((n) => n.seq);
  const notifications = window.filter((n) => !heldBack(n));
  const pending = state.total - heldSeqs.length;
  return {
    replay: {
      notifications,
      pending,
      recovered: state.clean && pending <= notifications.length,
      catchingUp: !state.clean,
      window,
      oldestPendingAtMs: oldestOf(state),
      seq: Math.min(state.seq, ...heldSeqs.map((seq) => seq - 1)),
      lastSeq: state.resumeReset ? undefined : lastSeq,
      resumeReset: state.resumeReset,
    },
    unread,
    heldBack,
  };
}

export interface CatchUp {
  /** MongoDB-only notifications to push, in replay order, at most what the limit leaves. */
  notifications: Notification[];
  /** Everything pending for the user: the Redis part of the replay plus what MongoDB adds. */
  pending: number;
  recovered: boolean;
  /** REPLAY_DONE's `seq`: AUTH_OK's, kept below what do-not-disturb holds back of MongoDB's too. */
  seq: number;
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
  if (
    fromMongo.total === 0 &&
    (lastSeq === undefined || !(await undeliveredOutside(stores.models, userId, replay.window)))
  ) {
    await markReplayClean(stores.redis, userId, replay.oldestPendingAtMs, stores.bufferTtlSeconds);
  }
  const room = Math.max(0, limit - replay.notifications.length);
  const heldSeqs = fromMongo.notifications.filter(heldBack).map((n) => n.seq);
  const notifications = fromMongo.notifications.filter((n) => !heldBack(n)).slice(0, room);
  const pending = replay.pending + fromMongo.total - heldSeqs.length;
  return {
    notifications,
    pending,
    recovered: pending <= replay.notifications.length + notifications.length,
    seq: Math.min(replay.seq, ...heldSeqs.map((seq) => seq - 1)),
  };
}

/**
 * Whether MongoDB holds any undelivered notification of the user outside the Redis window, whatever
 * its seq. A resume's candidates are only those after its lastSeq, and finding none of those does
 * not make the user clean: after a Redis failover that lost commits, jobs stores them undelivered
 * with seqs the client has seen already (the seq counter went back; docs/reliability.md), and the
 * mark would keep every later AUTH from sending them.
 */
async function undeliveredOutside(models: Models, userId: string, window: Notification[]): Promise<boolean> {
  return (
    (await models.Notification.exists({ userId, status: 'undelivered', _id: { $nin: window.map((n) => n.id) } })) !==
    null
  );
}

/** True for a notification that must not be pushed yet. */
export type HoldRule = (n: Notification) => boolean;

/** Which notifications do-not-disturb holds back from the replay right now (transactional never). */
export function holdRule(prefs: Preferences, nowMs: number): HoldRule {
  return (n) => doNotDisturbHoldsUntil(prefs, n.type, nowMs) !== null;
}

/**
 * When the first pending copy was buffered at the latest (the replay-clean mark's bound): the
 * oldest createdAt read, null when nothing is pending, undefined when neither every pending
 * notification nor the first written of them was read. The first written (lowest seq: seq and
 * the copy's TTL are set in one commit) is the first to expire, and its createdAt comes before
 * its commit, so with it the bound holds without reading the rest.
 */
function oldestOf(state: ReplayState): number | null | undefined {
  const read = state.earliest ? [...state.notifications, state.earliest] : state.notifications;
  if (state.pendingInAll > state.notifications.length && state.earliest === undefined) return undefined;
  if (read.length === 0) return null;
  return Math.min(...read.map((n) => Date.parse(n.createdAt)));
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
  const docs = await models.Notification.find(filter)
    .sort({ priority: -1, seq: 1 })
    .limit(limit)
    .lean<NotificationDoc[]>();
  if (docs.length === 0) return { notifications: [], total: 0 };
  const ids = docs.map((d) => d._id);
  const [acked, buffered] = await Promise.all([ackedAt(redis, userId, ids), redis.zmscore(keys.inbox(userId), ...ids)]);
  const stale = new Set(ids.filter((_, i) => acked[i] !== null || buffered[i] !== null));
  const notifications = docs.filter((d) => !stale.has(d._id)).map(toNotification);
  const total =
    docs.length < limit ? notifications.length : (await models.Notification.countDocuments(filter)) - stale.size;
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

import type { Redis } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import { decodeNotification, type Notification } from '../shared/notification.js';
import type { Preferences } from '../shared/preferences.js';
import { EVENTS_MAX_PRIORITY } from '../shared/priority.js';
import type { UnreadState } from '../shared/unread.js';
import { WAKE_ROUTE_LUA } from '../shared/wake-channel.js';

const REPLAY_STATE = LuaScript.fromFile(new URL('./replay-state.lua', import.meta.url), { WAKE_ROUTE: WAKE_ROUTE_LUA });

/** Who reads: this instance registers in the user's route in the same call (route.ts). */
export interface RouteRegistration {
  instanceId: string;
  ttlMs: number;
}

/** What AUTH reads from Redis, in one round trip (replay-state.lua), registering the instance first. */
export interface ReplayState {
  /** In replay order, after `lastSeq` when it was followed: at most `limit`. */
  notifications: Notification[];
  /** Pending in Redis after `lastSeq` when it was followed, else in all. */
  total: number;
  /** Pending in Redis in all, whatever their seq. */
  pendingInAll: number;
  /**
   * Resuming: the pending notification with the lowest seq, the first written and so the first
   * to expire (shared/replay-clean.ts); undefined without `lastSeq` or when its copy had expired.
   */
  earliest: Notification | undefined;
  /**
   * `lastSeq` was above the user's seq (Redis lost the user's keys and the counter started
   * again) and was ignored: `notifications` and `total` are those of a replay without it.
   */
  resumeReset: boolean;
  clean: boolean;
  /** Undefined when Redis holds no copy (the caller loads it its own way). */
  preferences: Preferences | undefined;
  /** Undefined when the counter is missing (a rebuild is due). */
  unread: UnreadState | undefined;
  /** The latest seq the user's notifications took when this was read; 0 before the first. */
  seq: number;
}

export interface ReplayRead {
  /** Notifications returned at most (REPLAY_LIMIT); Redis's work is bounded by it too. */
  limit: number;
  /** The client's resume point: only notifications with a higher seq are read and counted. */
  lastSeq?: number;
}

type Reply = [
  total: number,
  clean: number,
  prefs: string | null,
  count: string | null,
  version: string | null,
  seq: string | null,
  reset: number,
  pendingInAll: number,
  earliest: string | null,
  ...jsons: string[],
];

export async function readReplayState(
  redis: Redis,
  keyPrefix: string,
  userId: string,
  read: ReplayRead,
  route: RouteRegistration,
): Promise<ReplayState> {
  const reply = (await REPLAY_STATE.run(
    redis,
    [
      keys.inbox(userId),
      keys.replayClean(userId),
      keys.preferences(userId),
      keys.unreadCount(userId),
      keys.unreadVersion(userId),
      keys.notification(userId, ''),
      keys.wsRoute(userId),
      keys.seq(userId),
    ],
    [
      keyPrefix,
      String(read.limit),
      route.instanceId,
      String(route.ttlMs),
      read.lastSeq === undefined ? '' : String(read.lastSeq),
      String(EVENTS_MAX_PRIORITY),
    ],
  )) as Reply;
  const [total, clean, prefs, count, version, seq, reset, pendingInAll, earliest, ...jsons] = reply;
  return {
    notifications: jsons.map(decodeNotification),
    total,
    pendingInAll,
    earliest: earliest === null ? undefined : decodeNotification(earliest),
    resumeReset: reset === 1,
    clean: clean === 1,
    preferences: prefs === null ? undefined : (JSON.parse(prefs) as Preferences),
    unread: count === null ? undefined : { count: Number(count), version: Number(version ?? 0) },
    seq: Number(seq ?? 0),
  };
}

import type { Redis } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import { decodeNotification, type Notification } from '../shared/notification.js';
import type { Preferences } from '../shared/preferences.js';
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
  /** In replay order: at most `limit`, or every pending one when `limit` is 0. */
  notifications: Notification[];
  /** Pending in Redis in all. */
  total: number;
  clean: boolean;
  /** Undefined when Redis holds no copy (the caller loads it its own way). */
  preferences: Preferences | undefined;
  /** Undefined when the counter is missing (a rebuild is due). */
  unread: UnreadState | undefined;
  /** The latest seq the user's notifications took when this was read; 0 before the first. */
  seq: number;
}

export async function readReplayState(
  redis: Redis,
  keyPrefix: string,
  userId: string,
  limit: number,
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
    [keyPrefix, String(limit), route.instanceId, String(route.ttlMs)],
  )) as [number, number, string | null, string | null, string | null, string | null, ...string[]];
  const [total, clean, prefs, count, version, seq, ...jsons] = reply;
  return {
    notifications: jsons.map(decodeNotification),
    total,
    clean: clean === 1,
    preferences: prefs === null ? undefined : (JSON.parse(prefs) as Preferences),
    unread: count === null ? undefined : { count: Number(count), version: Number(version ?? 0) },
    seq: Number(seq ?? 0),
  };
}

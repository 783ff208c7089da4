import { keys } from '../shared/keys.js';
import { categoryOf } from '../shared/priority.js';
import type { Redis } from '../shared/redis.js';
import type { EventType } from '../shared/schemas/event.js';
import { LuaScript } from '../shared/lua.js';

/**
 * The aggregation window: LIKE, COMMENT and SHARE events on the same object for the same
 * recipient inside AGGREGATION_WINDOW_MS fold into one notification. The first event opens the
 * window and is delivered at once (never held back); later ones update that notification (same
 * id, new version, new seq). The window is fixed from its first event: it is not extended by
 * later ones, so a steady trickle still produces a fresh notification every window.
 *
 * The state (the notification id, its createdAt, the distinct actors in arrival order, the
 * folded eventIds) lives in Redis with the window's TTL and changes only inside one Lua script,
 * so concurrent consumers folding into the same window cannot lose an actor. An actor already
 * counted is not counted again (unlike + like again inside the window is one).
 *
 * version = the number of distinct actors: it only grows, and the consumer holding version N
 * holds every actor of every version below N, so "highest version wins" in the buffer
 * (shared/buffer.ts, the buffer commit) can never drop an actor.
 */

export const AGGREGATABLE_TYPES: readonly EventType[] = ['LIKE', 'COMMENT', 'SHARE'];

/** Actors kept on the notification (most recent first); actorCount holds the full number. */
export const MAX_LISTED_ACTORS = 20;
/** eventIds kept on an aggregate. */
const MAX_EVENT_IDS = 100;

export function isAggregatable(type: EventType, objectId: string | null, actorId: string | undefined): boolean {
  return categoryOf(type) !== 'transactional' && AGGREGATABLE_TYPES.includes(type) && objectId !== null && actorId !== undefined;
}

export interface WindowState {
  /** True when this event opened the window: its notification is new. */
  opened: boolean;
  /** The window's notification id. */
  id: string;
  createdAt: string;
  /** Most recent first, at most MAX_LISTED_ACTORS. */
  actors: string[];
  actorCount: number;
  eventIds: string[];
}

// KEYS: window hash, actors zset, events list. ARGV: candidate id, createdAt, actorId, eventId, windowMs, maxActors, maxEvents.
const FOLD_SCRIPT = new LuaScript(`
local opened = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'createdAt', ARGV[2], 'n', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('DEL', KEYS[2], KEYS[3])
  opened = 1
end
if not redis.call('ZSCORE', KEYS[2], ARGV[3]) then
  local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
  redis.call('ZADD', KEYS[2], n, ARGV[3])
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[7]), -1)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {
  opened,
  redis.call('HGET', KEYS[1], 'id'),
  redis.call('HGET', KEYS[1], 'createdAt'),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[6]) - 1),
  redis.call('LRANGE', KEYS[3], 0, -1)
}
`);

export interface FoldInput {
  userId: string;
  type: EventType;
  objectId: string;
  actorId: string;
  eventId: string;
  /** Used only if this event opens the window. */
  candidateId: string;
  createdAt: string;
}

/**
 * Adds the event's actor to its window (opening it if needed) and returns the window's state
 * after that, atomically. Idempotent: a redelivered event finds its actor counted and gets the
 * current state, which the caller commits again (a crash between fold and commit loses nothing).
 */
export async function foldIntoWindow(redis: Redis, input: FoldInput, windowMs: number): Promise<WindowState> {
  const { userId, type, objectId } = input;
  const result = (await FOLD_SCRIPT.run(
    redis,
    [keys.aggregate(userId, type, objectId), keys.aggregateActors(userId, type, objectId), keys.aggregateEvents(userId, type, objectId)],
    [input.candidateId, input.createdAt, input.actorId, input.eventId, String(windowMs), String(MAX_LISTED_ACTORS), String(MAX_EVENT_IDS)],
  )) as [number, string, string, number, string[], string[]];
  const [opened, id, createdAt, actorCount, actors, eventIds] = result;
  return { opened: opened === 1, id, createdAt, actors, actorCount, eventIds: [...eventIds].reverse() };
}

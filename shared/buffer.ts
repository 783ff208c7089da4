import type { Redis } from 'ioredis';
import { EVENTS_MAX_PRIORITY } from './amqp/topology.js';
import { keys } from './keys.js';
import { decodeNotification, encodeNotification, type Notification } from './notification.js';
import { UNREAD_BUMP_LUA, UNREAD_COUNT_TTL_SECONDS } from './unread.js';
import { LuaScript } from './lua.js';

/**
 * The Redis buffer: each notification under `notif:{id}` with a TTL, indexed in the user's
 * pending set until acked. It is the source of truth for delivery while it lasts; the socket
 * path only ever pushes what it read from here, so a lost wake-up delays but never loses.
 */

/** Replay order: higher priority first, then oldest (lowest seq) first. */
export function pendingScore(n: Pick<Notification, 'priority' | 'seq'>): number {
  return (EVENTS_MAX_PRIORITY - n.priority) * 1e12 + n.seq;
}

export interface ExtraMark {
  key: string;
  ttlMs: number;
  /** Defaults to '1'; the consumer's eventId mark stores the notification id it produced. */
  value?: string;
}

/**
 * Writes one version of a notification into the buffer, atomically with its dedupe marks and
 * the unread count: either all of it exists afterwards or none of it, so a crash can never
 * leave a "seen" mark without the notification it stands for. The consumer and the tests'
 * simulated consumer both write through here. And:
 *
 * - Only a higher version replaces a buffered one, so two consumers folding into one aggregate
 *   may commit in any order and the buffer ends with the newest (it holds every actor the
 *   older ones held: aggregation.ts only ever adds actors).
 * - A rewritten version is pending again: the inbox entry is re-added with the new seq and the
 *   `acked:{id}` mark is cleared, so a client that acked the old version must ack the new one.
 * - The unread count grows only when the id is buffered for the first time.
 * - Every written version is marked `unpersisted` until jobs has stored it, so jobs can leave an
 *   ACK of it to the persist job instead of writing MongoDB twice (`unpersistedIds`).
 *
 * 'stale' means a newer version is already buffered; the marks are still written, so a
 * redelivery of this event is recognised as done.
 */
export type BufferOutcome = 'created' | 'updated' | 'stale';

// KEYS: notif, inbox, acked, unread count, unread version, unpersisted, marks...
// ARGV: json, version, ttl, score, id, unread count ttl, (value, ttlMs) per mark.
const COMMIT_SCRIPT = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
local outcome = 'created'
if raw then
  outcome = 'updated'
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and tonumber(decoded.version) >= tonumber(ARGV[2]) then outcome = 'stale' end
end
if outcome ~= 'stale' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[6], '1', 'EX', ARGV[3])
end
if outcome == 'created' then
  local countKey, versionKey, delta, countTtl = KEYS[4], KEYS[5], 1, tonumber(ARGV[6])
  ${UNREAD_BUMP_LUA}
end
for i = 7, #KEYS do
  local a = 7 + (i - 7) * 2
  redis.call('SET', KEYS[i], ARGV[a], 'PX', ARGV[a + 1])
end
return outcome
`);

export async function bufferNotification(
  redis: Redis,
  n: Notification,
  ttlSeconds: number,
  marks: ExtraMark[] = [],
): Promise<BufferOutcome> {
  const scriptKeys = [
    keys.notification(n.id),
    keys.inbox(n.userId),
    keys.acked(n.id),
    keys.unreadCount(n.userId),
    keys.unreadVersion(n.userId),
    keys.unpersisted(n.id),
    ...marks.map((m) => m.key),
  ];
  const args = [
    encodeNotification(n),
    String(n.version),
    String(ttlSeconds),
    String(pendingScore(n)),
    n.id,
    String(UNREAD_COUNT_TTL_SECONDS),
    ...marks.flatMap((m) => [m.value ?? '1', String(m.ttlMs)]),
  ];
  return (await COMMIT_SCRIPT.run(redis, scriptKeys, args)) as BufferOutcome;
}

export async function nextSeq(redis: Redis, userId: string): Promise<number> {
  return redis.incr(keys.seq(userId));
}

export async function readNotifications(redis: Redis, ids: string[]): Promise<Array<Notification | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.notification(id)));
  return raw.map((r) => (r === null ? null : decodeNotification(r)));
}

export interface Pending {
  /** In replay order, at most `limit`. */
  notifications: Notification[];
  /** How many are pending in Redis in all (may exceed `limit`). */
  total: number;
}

/**
 * The user's pending notifications in replay order. Entries whose notification already
 * expired are dropped from the index here: jobs has persisted them as undelivered by then.
 */
export async function readPending(redis: Redis, userId: string, limit: number): Promise<Pending> {
  const inbox = keys.inbox(userId);
  const [ids, total] = await Promise.all([redis.zrange(inbox, 0, limit - 1), redis.zcard(inbox)]);
  const found = await readNotifications(redis, ids);
  const expired = ids.filter((_, i) => found[i] === null);
  if (expired.length > 0) await redis.zrem(inbox, ...expired);
  return {
    notifications: found.filter((n): n is Notification => n !== null),
    total: total - expired.length,
  };
}

export type AckOutcome = 'acked' | 'already-acked' | 'not-found';

export interface BufferAck {
  outcome: AckOutcome;
  /** The unpersisted mark was there after the acked mark was set: jobs' persist job carries the ack. */
  unpersisted: boolean;
}

/*
 * The whole ACK frame in one script call, whatever its size (header in buffer-ack.lua):
 * ownership against the buffered notification itself, out of the pending set, the acked mark,
 * the unpersisted check, and the 'acked' and 'sent' timeline stages.
 */
const ACK_SCRIPT = LuaScript.fromFile(new URL('./buffer-ack.lua', import.meta.url));

/**
 * Acks `ids` of `userId` in the buffer. `sentAtMs` gives when an id was first sent (recorded as
 * its 'sent' stage; undefined records none). Duplicate ids count once.
 */
export async function ackInBuffer(
  redis: Redis,
  userId: string,
  ids: string[],
  ttlSeconds: number,
  nowMs = Date.now(),
  sentAtMs: (id: string) => number | undefined = () => undefined,
): Promise<Map<string, BufferAck>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const scriptKeys = [keys.inbox(userId)];
  const args: string[] = [userId, String(nowMs), String(ttlSeconds)];
  for (const id of unique) {
    scriptKeys.push(keys.notification(id), keys.acked(id), keys.unpersisted(id), keys.timeline(id));
    args.push(id, String(sentAtMs(id) ?? ''));
  }
  const result = (await ACK_SCRIPT.run(redis, scriptKeys, args)) as Array<string | number>;
  return new Map(
    unique.map((id, i) => [id, { outcome: (result[2 * i] ?? 'not-found') as AckOutcome, unpersisted: result[2 * i + 1] === 1 }]),
  );
}

/** `ackInBuffer`'s outcomes alone. */
export async function ackNotifications(
  redis: Redis,
  userId: string,
  ids: string[],
  ttlSeconds: number,
  nowMs = Date.now(),
): Promise<Map<string, AckOutcome>> {
  const acks = await ackInBuffer(redis, userId, ids, ttlSeconds, nowMs);
  return new Map([...acks].map(([id, ack]) => [id, ack.outcome]));
}

/**
 * The ids whose latest buffered version jobs has not stored yet. jobs clears the mark after
 * its write and before it re-reads the ack marks, so an ACK that still sees the mark is
 * certain to be carried by that re-read (jobs/persist.ts, jobs/acks.ts).
 */
export async function unpersistedIds(redis: Redis, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const marks = await redis.mget(ids.map((id) => keys.unpersisted(id)));
  return new Set(ids.filter((_, i) => marks[i] !== null));
}

export async function markPersisted(redis: Redis, ids: string[]): Promise<void> {
  if (ids.length > 0) await redis.del(...ids.map((id) => keys.unpersisted(id)));
}

/** Epoch ms of each id's ack, or null if it was not acked (or Redis no longer knows). */
export async function ackedAt(redis: Redis, ids: string[]): Promise<Array<number | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.acked(id)));
  return raw.map((r) => (r === null ? null : Number(r)));
}

import type { Redis } from 'ioredis';
import { EVENTS_MAX_PRIORITY } from './amqp/topology.js';
import { keys } from './keys.js';
import { decodeNotification, encodeNotification, type Notification } from './notification.js';

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
 * Writes the notification and its pending entry in one MULTI, together with any extra marks
 * (the consumer's dedupe keys): either all of it exists afterwards or none of it, so a crash
 * can never leave a "seen" mark without the notification it stands for.
 */
export async function bufferNotification(
  redis: Redis,
  notification: Notification,
  ttlSeconds: number,
  marks: ExtraMark[] = [],
): Promise<void> {
  const tx = redis
    .multi()
    .set(keys.notification(notification.id), encodeNotification(notification), 'EX', ttlSeconds)
    .zadd(keys.inbox(notification.userId), pendingScore(notification), notification.id)
    .expire(keys.inbox(notification.userId), ttlSeconds);
  for (const mark of marks) tx.set(mark.key, mark.value ?? '1', 'PX', mark.ttlMs);
  const results = await tx.exec();
  const failed = results?.find(([err]) => err);
  if (!results || failed) throw failed?.[0] ?? new Error('redis transaction aborted');
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

/*
 * Atomic per call, so concurrent ACKs on one socket (or two devices) cannot corrupt the
 * pending set. Ownership is checked against the buffered notification itself: an id of
 * another user, or one no longer buffered, is 'not-found' and changes nothing.
 * KEYS: inbox, then n notification keys, then n acked keys. ARGV: userId, nowMs, ttlSeconds, ids.
 */
const ACK_SCRIPT = `
local n = (#KEYS - 1) / 2
local out = {}
for i = 1, n do
  local id = ARGV[3 + i]
  local raw = redis.call('GET', KEYS[1 + i])
  local owned = false
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    owned = ok and decoded.userId == ARGV[1]
  end
  if not owned then
    out[i] = 'not-found'
  elseif redis.call('EXISTS', KEYS[1 + n + i]) == 1 then
    redis.call('ZREM', KEYS[1], id)
    out[i] = 'already-acked'
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('SET', KEYS[1 + n + i], ARGV[2], 'EX', ARGV[3])
    out[i] = 'acked'
  end
end
return out
`;

export async function ackNotifications(
  redis: Redis,
  userId: string,
  ids: string[],
  ttlSeconds: number,
  nowMs = Date.now(),
): Promise<Map<string, AckOutcome>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const scriptKeys = [
    keys.inbox(userId),
    ...unique.map((id) => keys.notification(id)),
    ...unique.map((id) => keys.acked(id)),
  ];
  const result = (await redis.eval(
    ACK_SCRIPT,
    scriptKeys.length,
    ...scriptKeys,
    userId,
    String(nowMs),
    String(ttlSeconds),
    ...unique,
  )) as AckOutcome[];
  return new Map(unique.map((id, i) => [id, result[i] ?? 'not-found']));
}

/** Epoch ms of each id's ack, or null if it was not acked (or Redis no longer knows). */
export async function ackedAt(redis: Redis, ids: string[]): Promise<Array<number | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.acked(id)));
  return raw.map((r) => (r === null ? null : Number(r)));
}

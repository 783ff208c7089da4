import type { Redis } from '../../shared/redis.js';
import { actionFingerprint, type DedupeWindows } from '../../consumer/dedupe.js';
import type { ParsedEvent } from '../../consumer/parse-event.js';
import { EVENTS_MAX_PRIORITY } from '../../shared/amqp/topology.js';
import { ackInBuffer, readNotifications, type AckOutcome } from '../../shared/buffer.js';
import { keys } from '../../shared/keys.js';
import { LuaScript } from '../../shared/lua.js';
import { encodeNotification, type Notification } from '../../shared/notification.js';
import { UNREAD_BUMP_LUA, UNREAD_COUNT_TTL_SECONDS } from '../../shared/unread.js';
import { unpersistedMark } from '../../shared/unpersisted-mark.js';

/**
 * The Redis buffer as tests set it up and inspect it: writing a given notification (the state the
 * consumer's commit leaves, with chosen ids and versions, consumer/commit.lua being the real
 * writer), reading a user's pending list, acking without a socket. Not used by the services.
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
 *   older ones held: consumer/commit.lua only ever adds actors to a window).
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
// ARGV: json, version, ttl, score, id, unread count ttl, unpersisted mark value, (value, ttlMs) per mark.
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
  redis.call('SET', KEYS[6], ARGV[7], 'EX', ARGV[3])
end
if outcome == 'created' then
  local countKey, versionKey, delta, countTtl = KEYS[4], KEYS[5], 1, tonumber(ARGV[6])
  ${UNREAD_BUMP_LUA}
end
for i = 7, #KEYS do
  local a = 8 + (i - 7) * 2
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
    keys.notification(n.userId, n.id),
    keys.inbox(n.userId),
    keys.acked(n.userId, n.id),
    keys.unreadCount(n.userId),
    keys.unreadVersion(n.userId),
    keys.unpersisted(n.userId, n.id),
    ...marks.map((m) => m.key),
  ];
  const args = [
    encodeNotification(n),
    String(n.version),
    String(ttlSeconds),
    String(pendingScore(n)),
    n.id,
    String(UNREAD_COUNT_TTL_SECONDS),
    unpersistedMark(Date.now(), n.version),
    ...marks.flatMap((m) => [m.value ?? '1', String(m.ttlMs)]),
  ];
  return (await COMMIT_SCRIPT.run(redis, scriptKeys, args)) as BufferOutcome;
}

export async function nextSeq(redis: Redis, userId: string): Promise<number> {
  return redis.incr(keys.seq(userId));
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
  const found = await readNotifications(redis, userId, ids);
  const expired = ids.filter((_, i) => found[i] === null);
  if (expired.length > 0) await redis.zrem(inbox, ...expired);
  return {
    notifications: found.filter((n): n is Notification => n !== null),
    total: total - expired.length,
  };
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

/** What jobs does after its insert: the unpersisted marks of one user's `ids` go. */
export async function markPersisted(redis: Redis, userId: string, ids: string[]): Promise<void> {
  if (ids.length > 0) await redis.del(...ids.map((id) => keys.unpersisted(userId, id)));
}

/** The dedupe marks the consumer's commit writes for an event (consumer/commit.lua), as `bufferNotification` marks. */
export function dedupeMarks(event: ParsedEvent, notificationId: string, windows: DedupeWindows): ExtraMark[] {
  const marks: ExtraMark[] = [
    {
      key: keys.eventSeen(event.targetId, event.eventId),
      ttlMs: windows.eventWindowSeconds * 1000,
      value: notificationId,
    },
  ];
  const fingerprint = actionFingerprint(event);
  if (fingerprint !== null) {
    marks.push({
      key: keys.actionSeen(event.targetId, fingerprint),
      ttlMs: windows.actionWindowMs,
      value: event.eventId,
    });
  }
  return marks;
}

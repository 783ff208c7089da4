import { pendingScore, type ExtraMark } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { encodeNotification, type Notification } from '../shared/notification.js';
import type { Redis } from '../shared/redis.js';
import { UNREAD_BUMP_LUA, UNREAD_COUNT_TTL_SECONDS } from '../shared/unread.js';

/**
 * Writes one version of a notification into the buffer, atomically with its dedupe marks and
 * the unread count. Same contract as shared/buffer.ts `bufferNotification`, plus:
 *
 * - Only a higher version replaces a buffered one, so two consumers folding into one aggregate
 *   may commit in any order and the buffer ends with the newest (it holds every actor the
 *   older ones held: aggregation.ts only ever adds actors).
 * - A rewritten version is pending again: the inbox entry is re-added with the new seq and the
 *   `acked:{id}` mark is cleared, so a client that acked the old version must ack the new one.
 * - The unread count grows only when the id is buffered for the first time.
 *
 * 'stale' means a newer version is already buffered; the marks are still written, so a
 * redelivery of this event is recognised as done.
 */
export type CommitOutcome = 'created' | 'updated' | 'stale';

// KEYS: notif, inbox, acked, unread count, unread version, marks... ARGV: json, version, ttl, score, id, (value, ttlMs) per mark.
const COMMIT_SCRIPT = `
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
end
if outcome == 'created' then
  local countKey, versionKey, delta, countTtl = KEYS[4], KEYS[5], 1, tonumber(ARGV[6])
  ${UNREAD_BUMP_LUA}
end
for i = 6, #KEYS do
  local a = 7 + (i - 6) * 2
  redis.call('SET', KEYS[i], ARGV[a], 'PX', ARGV[a + 1])
end
return outcome
`;

export async function commitNotification(
  redis: Redis,
  n: Notification,
  ttlSeconds: number,
  marks: ExtraMark[] = [],
): Promise<CommitOutcome> {
  const scriptKeys = [
    keys.notification(n.id),
    keys.inbox(n.userId),
    keys.acked(n.id),
    keys.unreadCount(n.userId),
    keys.unreadVersion(n.userId),
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
  return (await redis.eval(COMMIT_SCRIPT, scriptKeys.length, ...scriptKeys, ...args)) as CommitOutcome;
}

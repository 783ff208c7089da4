import { keys } from './keys.js';
import type { Models } from './models/index.js';
import { UNREAD_STATUSES } from './models/notification-state.js';
import { LuaScript } from './lua.js';
import type { Redis } from './redis.js';

/**
 * The one definition of a user's unread count, shared by the UNREAD frame, the count carried on
 * every NOTIFICATION push and `GET /users/:userId/notifications/unread-count`.
 *
 * Source of truth: a Redis counter per user, so a notification still in its persist delay (only
 * in Redis) counts at once. It moves +1 when a notification id is buffered for the first time
 * (an aggregate that grows is not new; shared/buffer.ts) and -1 for each notification a read
 * found unread, once (markReadOnce, just before MongoDB's update; producer/notifications/read.ts,
 * also for read-all).
 * When the counter is missing (expired, Redis lost it) it is reconciled from
 * MongoDB's unread documents plus the pending buffered ids MongoDB does not hold yet.
 *
 * Every change INCRs a separate version key that never expires, so versions only grow, even
 * across a reconcile: a client that sees a version jump it did not witness knows it drifted.
 */

export interface UnreadState {
  count: number;
  version: number;
}

/** Counter TTL: refreshed on every change; afterwards the next read reconciles. */
const COUNT_TTL_SECONDS = 30 * 24 * 3600;

/**
 * Lua fragment, shared by the scripts that change the count: applies a delta only if the counter
 * exists (a missing one is rebuilt by the next read, which then sees the change), never below 0,
 * and always bumps the version. Expects `countKey`, `versionKey`, `delta`, `countTtl` locals.
 */
export const UNREAD_BUMP_LUA = `
if redis.call('EXISTS', countKey) == 1 then
  local c = redis.call('INCRBY', countKey, delta)
  if c < 0 then redis.call('SET', countKey, 0) end
  redis.call('EXPIRE', countKey, countTtl)
end
redis.call('INCR', versionKey)
`;
export const UNREAD_COUNT_TTL_SECONDS = COUNT_TTL_SECONDS;

const BUMP_SCRIPT = new LuaScript(`
local countKey, versionKey = KEYS[1], KEYS[2]
local delta, countTtl = tonumber(ARGV[1]), tonumber(ARGV[2])
${UNREAD_BUMP_LUA}
return 1
`);

/** +1 / -1 on the counter (if it exists) and a new version. A zero delta changes nothing. */
export async function bumpUnread(redis: Redis, userId: string, delta: number): Promise<void> {
  if (delta === 0) return;
  await BUMP_SCRIPT.run(
    redis,
    [keys.unreadCount(userId), keys.unreadVersion(userId)],
    [String(delta), String(COUNT_TTL_SECONDS)],
  );
}

/** The count and version Redis holds; undefined when the counter is missing (a rebuild is due). */
export async function readCachedUnread(redis: Redis, userId: string): Promise<UnreadState | undefined> {
  const [count, version] = await redis.mget(keys.unreadCount(userId), keys.unreadVersion(userId));
  return count === null ? undefined : { count: Number(count), version: Number(version ?? 0) };
}

/**
 * The current count and version, reconciling from MongoDB when the counter is missing. For the
 * read API, which may wait on MongoDB (with its deadline); the socket path never does
 * (ws-server/unread.ts).
 */
export async function readUnread(redis: Redis, models: Models, userId: string): Promise<UnreadState> {
  return (await readCachedUnread(redis, userId)) ?? reconcileUnread(redis, models, userId, false);
}

/** A read's MongoDB update and its count change are two steps: a rebuild must not land between them. */
const BUSY_TTL_SECONDS = 30;
const REBUILD_ATTEMPTS = 5;

/**
 * Runs a change that touches MongoDB before the counter (a read, read-all) so that no rebuild
 * stores a count in between, which would count the change twice. If the process dies inside,
 * the mark expires after BUSY_TTL_SECONDS and rebuilds resume.
 */
export async function duringUnreadChange<T>(redis: Redis, userId: string, change: () => Promise<T>): Promise<T> {
  await redis.multi().incr(keys.unreadBusy(userId)).expire(keys.unreadBusy(userId), BUSY_TTL_SECONDS).exec();
  try {
    return await change();
  } finally {
    await redis.decr(keys.unreadBusy(userId));
  }
}

// KEYS: count, version, busy. ARGV: count, countTtl, expected version, force ('1'/'0').
const STORE_SCRIPT = new LuaScript(`
local v = tonumber(redis.call('GET', KEYS[2]) or '0')
local busy = tonumber(redis.call('GET', KEYS[3]) or '0')
if v ~= tonumber(ARGV[3]) or busy > 0 then return {-1, v} end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
elseif not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then
  return {tonumber(redis.call('GET', KEYS[1])), v}
end
return {tonumber(ARGV[1]), redis.call('INCR', KEYS[2])}
`);

/**
 * Rebuilds the counter from MongoDB plus what only the buffer holds. `force` overwrites an
 * existing counter; otherwise the first writer wins (NX), so two readers racing to rebuild
 * agree. Counted: unread stored documents, plus pending buffered ids MongoDB does not hold yet
 * and nobody read. The stored count excludes those buffered ids, so one that jobs stores while
 * this runs is counted exactly once.
 *
 * The count is stored only if nothing changed while counting: every change bumps the version
 * (also when the counter is missing), and reads in progress hold the busy mark, so a rebuild
 * that saw a change half-applied retries instead of storing it. If it never gets a quiet
 * moment, it answers the count without storing it; the next read tries again.
 *
 * Not counted: an acked notification still in its persist delay (the buffer keeps no per-user
 * index of those); the counter is only missing after 30 idle days or a Redis loss, so that
 * residue is at most a few seconds of acks.
 */
export async function reconcileUnread(
  redis: Redis,
  models: Models,
  userId: string,
  force: boolean,
): Promise<UnreadState> {
  let last: UnreadState = { count: 0, version: 0 };
  for (let attempt = 1; attempt <= REBUILD_ATTEMPTS; attempt += 1) {
    const expected = Number((await redis.get(keys.unreadVersion(userId))) ?? 0);
    const count = await countUnread(redis, models, userId);
    const scriptKeys = [keys.unreadCount(userId), keys.unreadVersion(userId), keys.unreadBusy(userId)];
    const args = [String(count), String(COUNT_TTL_SECONDS), String(expected), force ? '1' : '0'];
    const [stored, version] = (await STORE_SCRIPT.run(redis, scriptKeys, args)) as [number, number];
    if (stored >= 0) return { count: stored, version };
    last = { count, version };
    await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
  }
  return last;
}

/** Read marks looked up per MGET (a user may have thousands unread). */
const MARK_LOOKUP_CHUNK = 1000;

/** Of the user's `ids`, those without a read mark (keys.readBeforeStored): not counted read. */
async function withoutReadMark(redis: Redis, userId: string, ids: string[]): Promise<Set<string>> {
  const unmarked = new Set<string>();
  for (let i = 0; i < ids.length; i += MARK_LOOKUP_CHUNK) {
    const chunk = ids.slice(i, i + MARK_LOOKUP_CHUNK);
    const marks = await redis.mget(chunk.map((id) => keys.readBeforeStored(userId, id)));
    chunk.forEach((id, j) => marks[j] === null && unmarked.add(id));
  }
  return unmarked;
}

/**
 * Unread: stored unread without a read mark, plus buffered-only ones (unreadOnlyInBuffer). A
 * stored one whose mark is set was counted read when its read began, before MongoDB's update
 * (producer/notifications/read.ts): an update that missed its deadline or failed has not landed,
 * and the retry that lands it finds the mark and lowers nothing. Counted unread here, the count
 * would stay one high after that retry.
 */
async function countUnread(redis: Redis, models: Models, userId: string): Promise<number> {
  const onlyBuffered = await unreadOnlyInBuffer(redis, models, userId);
  const buffered = new Set(onlyBuffered);
  const storedUnread = (
    await models.Notification.find({ userId, status: { $in: [...UNREAD_STATUSES] } }, { _id: 1 }).lean<
      Array<{ _id: string }>
    >()
  )
    .map((d) => d._id)
    .filter((id) => !buffered.has(id));
  return (await withoutReadMark(redis, userId, storedUnread)).size + onlyBuffered.length;
}

/** Pending ids of the user that MongoDB does not hold yet and that were not read meanwhile. */
export async function unreadOnlyInBuffer(redis: Redis, models: Models, userId: string): Promise<string[]> {
  const pendingIds = await redis.zrange(keys.inbox(userId), 0, -1);
  if (pendingIds.length === 0) return [];
  const [known, unmarked] = await Promise.all([
    // userId too: FerretDB answers an `_id: { $in }` alone by reading the whole collection (2 s
    // and a core per call at 200,000 documents, times every user whose count is rebuilt).
    models.Notification.find({ _id: { $in: pendingIds }, userId }, { _id: 1 }).lean<Array<{ _id: string }>>(),
    withoutReadMark(redis, userId, pendingIds),
  ]);
  const stored = new Set(known.map((d) => d._id));
  return pendingIds.filter((id) => !stored.has(id) && unmarked.has(id));
}

// KEYS: unread count, unread version, read marks... ARGV: countTtl, mark value, mark ttl seconds.
const MARK_READ_SCRIPT = new LuaScript(`
local countKey, versionKey, countTtl = KEYS[1], KEYS[2], tonumber(ARGV[1])
local newly = 0
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3], 'NX') then newly = newly + 1 end
end
if newly > 0 then
  local delta = -newly
  ${UNREAD_BUMP_LUA}
end
return newly
`);

/**
 * The exactly-once gate of a read: sets each id's read mark (keys.readBeforeStored) unless it
 * is already set, and lowers the count by how many were newly marked, in one atomic step. The
 * caller passes ids it has just found unread (stored unread in MongoDB, or only in the buffer)
 * and is about to mark read, before its MongoDB update: a repeated read, one whose update landed
 * after the caller's deadline and is retried, or the same read seen through both MongoDB and the
 * buffer, lowers the count once. Returns how many were newly marked.
 */
export async function markReadOnce(
  redis: Redis,
  userId: string,
  ids: string[],
  atMs: number,
  markTtlSeconds: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  const scriptKeys = [
    keys.unreadCount(userId),
    keys.unreadVersion(userId),
    ...ids.map((id) => keys.readBeforeStored(userId, id)),
  ];
  const newly = await MARK_READ_SCRIPT.run(redis, scriptKeys, [
    String(COUNT_TTL_SECONDS),
    String(atMs),
    String(markTtlSeconds),
  ]);
  return Number(newly);
}

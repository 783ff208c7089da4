import type { Redis } from '../../shared/redis.js';
import { findBufferedOwner, readNotifications } from '../../shared/buffer.js';
import { keys } from '../../shared/keys.js';
import type { Models } from '../../shared/models/index.js';
import { readAllOp, readOp } from '../../shared/models/notification-state.js';
import { recordStage } from '../../shared/timeline.js';
import { duringUnreadChange, markReadOnce, unreadOnlyInBuffer } from '../../shared/unread.js';
import type { UnreadSignal } from './unread-signal.js';

export interface ReadDeps {
  models: Models;
  redis: Redis;
  /** REDIS_KEY_PREFIX: finding the owner of an id without a caller scans for its keys. */
  keyPrefix: string;
  ttlSeconds: number;
  /** MONGO_BATCH_TIMEOUT_MS: read-all may update hundreds of documents in one command. */
  batchTimeoutMs: number;
  /**
   * Tells the user's sockets their count changed (UNREAD), as soon as it has: before MongoDB's
   * update, which may miss its deadline (a 503) after the count fell; a retry changes nothing.
   */
  announce: UnreadSignal;
}

/** `countChanged`: this call moved the notification from unread to read (the unread count fell). */
export type ReadOutcome =
  { found: false } | { found: true; id: string; userId: string; status: 'read'; readAt: string; countChanged: boolean };

/**
 * Marks one notification read. `userId` (the caller) scopes the lookup so another user's id is
 * simply not found. A notification still in its persist delay exists only in Redis: the read is
 * remembered there and jobs stores it as read, so reading right after delivery is never lost.
 * The unread count falls only for the call that caused the transition (shared/unread.ts
 * markReadOnce), so reading twice, or racing another read, counts once.
 */
export async function markRead(
  deps: ReadDeps,
  id: string,
  userId: string | undefined,
  now = new Date(),
): Promise<ReadOutcome> {
  const owner = userId ?? (await ownerOf(deps, id));
  if (owner === undefined) return { found: false };
  return duringUnreadChange(deps.redis, owner, () => markReadOf(deps, id, owner, now));
}

/**
 * Without a caller (open dev mode) the notification's own user: MongoDB's copy names it; one only
 * the buffer holds yet is looked for by id (shared/buffer.ts findBufferedOwner, a keyspace scan:
 * the buffer's keys carry their user, and dev mode is the one caller that does not know it).
 */
async function ownerOf(deps: ReadDeps, id: string): Promise<string | undefined> {
  const stored = await deps.models.Notification.findById(id, { userId: 1 }).lean();
  if (stored) return stored.userId;
  return findBufferedOwner(deps.redis, deps.keyPrefix, id);
}

async function markReadOf(deps: ReadDeps, id: string, userId: string, now: Date): Promise<ReadOutcome> {
  const before = await deps.models.Notification.findOne({ _id: id, userId }, { status: 1, readAt: 1 }).lean();
  if (before) {
    let readAt: Date | null | undefined = before.readAt;
    let newly = 0;
    if (before.status !== 'read') {
      // The count falls before MongoDB's update, by the once-only mark: an update that misses its
      // deadline may land all the same (FerretDB finishes a write the client gave up on), and the
      // read the client then retries finds it read. Counted after the update, that read would
      // never lower the count; counted first, the retry finds its mark set and counts nothing.
      newly = await markReadOnce(deps.redis, userId, [id], now.getTime(), deps.ttlSeconds);
      if (newly > 0) await deps.announce(userId);
      const op = readOp(id, now, userId);
      // No projection: FerretDB 1.24 refuses one on findAndModify.
      const updated = await deps.models.Notification.findOneAndUpdate(op.filter, op.update, { new: true }).lean();
      // null: a concurrent read got there first; its time stands.
      readAt = updated
        ? updated.readAt
        : (await deps.models.Notification.findOne({ _id: id, userId }, { readAt: 1 }).lean())?.readAt;
    }
    const at = readAt ?? now;
    await recordStage(deps.redis, userId, id, 'read', deps.ttlSeconds, at.getTime());
    return { found: true, id, userId, status: 'read', readAt: at.toISOString(), countChanged: newly > 0 };
  }
  const [buffered] = await readNotifications(deps.redis, userId, [id]);
  if (!buffered || buffered.userId !== userId) return { found: false };
  // The first read wins, as in MongoDB: the mark keeps its first time.
  const newly = await markReadOnce(deps.redis, buffered.userId, [id], now.getTime(), deps.ttlSeconds);
  if (newly > 0) await deps.announce(userId);
  const at = Number(await deps.redis.get(keys.readBeforeStored(userId, id))) || now.getTime();
  // jobs may have stored it between the lookup and the mark: advance it there too (already counted).
  const late = readOp(id, new Date(at), buffered.userId);
  await deps.models.Notification.updateOne(late.filter, late.update);
  await recordStage(deps.redis, userId, id, 'read', deps.ttlSeconds, at);
  return {
    found: true,
    id,
    userId: buffered.userId,
    status: 'read',
    readAt: new Date(at).toISOString(),
    countChanged: newly > 0,
  };
}

/**
 * Marks every notification of the user read: the stored ones in MongoDB, and the pending ones
 * only the buffer holds yet (jobs stores them as read). Not reached: one acked in the last
 * PERSIST_DELAY_MS and not stored yet; it stays unread and counted, so the count stays exact.
 * Returns how many were marked.
 */
export async function markAllRead(deps: ReadDeps, userId: string, now = new Date()): Promise<number> {
  return duringUnreadChange(deps.redis, userId, () => markAllReadOf(deps, userId, now));
}

/** Read marks set per script call (a user may have thousands unread). */
const MARK_CHUNK = 500;

async function markAllReadOf(deps: ReadDeps, userId: string, now: Date): Promise<number> {
  const op = readAllOp(userId, now);
  // The buffer's unread ids first, then the stored ones: one that jobs stores in between is in
  // both lists, and one stored after the second lookup is in the first, so none is in neither.
  const onlyBuffered = await unreadOnlyInBuffer(deps.redis, deps.models, userId);
  // Bounded by one user's unread notifications, found by the { userId, status } index. FerretDB
  // needs seconds for a few hundred, so the batch deadline; past it the caller gets a 503.
  const stored = (
    await deps.models.Notification.find(op.filter, { _id: 1 }, { timeoutMS: deps.batchTimeoutMs }).lean<
      Array<{ _id: string }>
    >()
  ).map((d) => d._id);
  // The count falls first, through the once-only read marks, never by what the update changed:
  // - the update may miss its deadline and land all the same (FerretDB finishes a write the client
  //   gave up on; MongoDB may stop halfway), and the read-all the client then retries finds those
  //   read: counted after the update, they would never lower the count, counted first they did;
  // - a notification read while only the buffer held it was counted then, and jobs may have
  //   stored it unread a moment before switching it to read; counted again here, the count would
  //   drift low.
  const ids = [...new Set([...stored, ...onlyBuffered])];
  let newly = 0;
  for (let i = 0; i < ids.length; i += MARK_CHUNK) {
    newly += await markReadOnce(deps.redis, userId, ids.slice(i, i + MARK_CHUNK), now.getTime(), deps.ttlSeconds);
  }
  if (newly > 0) await deps.announce(userId);
  if (stored.length > 0) {
    await deps.models.Notification.updateMany({ ...op.filter, _id: { $in: stored } }, op.update, {
      timeoutMS: deps.batchTimeoutMs,
    });
  }
  if (onlyBuffered.length > 0) {
    // Stored by jobs since the lookup: advance them too (already counted by their mark).
    await deps.models.Notification.updateMany({ ...op.filter, _id: { $in: onlyBuffered } }, op.update);
  }
  return newly;
}

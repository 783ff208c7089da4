import type { Model } from 'mongoose';
import { followersPage, followingPage, type FollowDoc } from '../../shared/models/follow.js';
import { HttpError } from '../http-errors.js';

/**
 * Followers and following, paged in id order with an opaque cursor (the last id of the page).
 * The order is total (one edge per pair), so edges added while a client pages land in their
 * place and none is returned twice.
 */
export interface PageQuery {
  userId: string;
  limit: number;
  after?: string;
}

function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify([id])).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const [id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof id === 'string') return id;
  } catch {
    // falls through to the 400 below
  }
  throw new HttpError(400, 'validation_failed', 'invalid cursor', {
    details: [{ field: 'after', message: '"after" must be a cursor returned by a previous page' }],
  });
}

function nextCursor(rows: unknown[], limit: number, lastId: string | undefined): string | null {
  return rows.length > limit && lastId !== undefined ? encodeCursor(lastId) : null;
}

export async function listFollowers(follows: Model<FollowDoc>, q: PageQuery) {
  // One extra row says whether another page exists without a second query.
  const rows = await followersPage(follows, q.userId, {
    after: q.after ? decodeCursor(q.after) : undefined,
    limit: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return {
    userId: q.userId,
    // Whether a follower muted this user is the follower's business: not shown here.
    followers: page.map((e) => ({ userId: e.followerId, since: e.createdAt.toISOString() })),
    nextCursor: nextCursor(rows, q.limit, page.at(-1)?.followerId),
  };
}

export async function listFollowing(follows: Model<FollowDoc>, q: PageQuery, showMuted: boolean) {
  const rows = await followingPage(follows, q.userId, {
    after: q.after ? decodeCursor(q.after) : undefined,
    limit: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return {
    userId: q.userId,
    following: page.map((e) => ({
      userId: e.followeeId,
      since: e.createdAt.toISOString(),
      ...(showMuted ? { muted: e.muted } : {}),
    })),
    nextCursor: nextCursor(rows, q.limit, page.at(-1)?.followeeId),
  };
}

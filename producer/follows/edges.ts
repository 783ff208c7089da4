import type { Model } from 'mongoose';
import { v7 as uuidv7 } from 'uuid';
import { findFollow, recordFollow, removeFollow, setMuted, type FollowDoc } from '../../shared/models/follow.js';
import { publishAccepted, type AcceptDeps } from '../accept-event.js';
import { HttpError } from '../http-errors.js';

/**
 * Follow, unfollow and mute over HTTP. Following and unfollowing are published as FOLLOW and
 * UNFOLLOW events first (the followed user is notified by the pipeline like any FOLLOW, and the
 * consumer applies the same idempotent edge change in queue order), then applied here so the
 * caller's next GET already shows them. A 503 from the broker changes nothing.
 */
export interface FollowDeps extends AcceptDeps {
  follows: Model<FollowDoc>;
}

export interface EdgeView {
  followerId: string;
  followeeId: string;
  muted: boolean;
  createdAt: string;
}

function view(edge: FollowDoc): EdgeView {
  return {
    followerId: edge.followerId,
    followeeId: edge.followeeId,
    muted: edge.muted,
    createdAt: edge.createdAt.toISOString(),
  };
}

export async function follow(deps: FollowDeps, followerId: string, targetId: string) {
  if (followerId === targetId) {
    throw new HttpError(400, 'validation_failed', 'a user cannot follow themselves', {
      details: [{ field: 'targetId', message: '"targetId" must differ from the following user' }],
    });
  }
  const existing = await findFollow(deps.follows, followerId, targetId);
  if (existing) return { created: false, edge: view(existing), eventId: null };

  const accepted = await publishAccepted(deps, { type: 'FOLLOW', actorId: followerId, targetId, eventId: uuidv7() });
  await recordFollow(deps.follows, followerId, targetId);
  const edge = await findFollow(deps.follows, followerId, targetId);
  if (!edge) throw new Error('follow edge vanished right after it was written');
  return { created: true, edge: view(edge), eventId: accepted.eventId };
}

export async function unfollow(deps: FollowDeps, followerId: string, targetId: string) {
  if (!(await findFollow(deps.follows, followerId, targetId)))
    throw new HttpError(404, 'not_following', `${followerId} does not follow ${targetId}`);
  const accepted = await publishAccepted(deps, { type: 'UNFOLLOW', actorId: followerId, targetId, eventId: uuidv7() });
  await removeFollow(deps.follows, followerId, targetId);
  return { followerId, followeeId: targetId, eventId: accepted.eventId };
}

export async function mute(deps: Pick<FollowDeps, 'follows'>, followerId: string, targetId: string, muted: boolean) {
  const edge = await setMuted(deps.follows, followerId, targetId, muted);
  if (!edge) throw new HttpError(404, 'not_following', `${followerId} does not follow ${targetId}`);
  return view(edge);
}

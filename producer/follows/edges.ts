import type { Model } from 'mongoose';
import { findFollow, recordFollow, removeFollow, setMuted, type FollowDoc } from '../../shared/models/follow.js';
import type { ActivityEvent } from '../../shared/schemas/event.js';
import { publishAccepted, resolveEventId, type AcceptDeps } from '../accept-event.js';
import { HttpError } from '../http-errors.js';

/**
 * Follow, unfollow and mute over HTTP. Following and unfollowing are published as FOLLOW and
 * UNFOLLOW events first (the followed user is notified by the pipeline like any FOLLOW, and the
 * consumer applies the same idempotent edge change in queue order), then applied here so the
 * caller's next GET already shows them.
 *
 * A 503 from the broker does not mean nothing happened: a confirm that came too late still leaves
 * the event in the queue, and the consumer then applies its edge change and notifies. So the
 * routes take an Idempotency-Key, as POST /events does: the event's id is the key (checked against
 * the event it was first used with, producer/idempotency.ts), and a retry with the same key
 * publishes the same eventId, which the consumer counts once.
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

/**
 * The event of a follow change, under the Idempotency-Key when there is one (a 400 for a bad one),
 * after the key's check: reused for another event, a 422 before anything is looked up or changed.
 */
async function eventOf(
  deps: FollowDeps,
  type: 'FOLLOW' | 'UNFOLLOW',
  followerId: string,
  targetId: string,
  headerKey: string | undefined,
): Promise<ActivityEvent & { eventId: string }> {
  const event = { type, actorId: followerId, targetId, eventId: resolveEventId(undefined, headerKey) };
  if (headerKey !== undefined) await deps.idempotency.check(event.eventId, event);
  return event;
}

export async function follow(deps: FollowDeps, followerId: string, targetId: string, headerKey?: string) {
  if (followerId === targetId) {
    throw new HttpError(400, 'validation_failed', 'a user cannot follow themselves', {
      details: [{ field: 'targetId', message: '"targetId" must differ from the following user' }],
    });
  }
  const event = await eventOf(deps, 'FOLLOW', followerId, targetId, headerKey);
  const existing = await findFollow(deps.follows, followerId, targetId);
  if (existing) return { created: false, edge: view(existing), eventId: null };

  const accepted = await publishAccepted(deps, event);
  await recordFollow(deps.follows, followerId, targetId);
  const edge = await findFollow(deps.follows, followerId, targetId);
  if (!edge) throw new Error('follow edge vanished right after it was written');
  return { created: true, edge: view(edge), eventId: accepted.eventId };
}

export async function unfollow(deps: FollowDeps, followerId: string, targetId: string, headerKey?: string) {
  const event = await eventOf(deps, 'UNFOLLOW', followerId, targetId, headerKey);
  if (!(await findFollow(deps.follows, followerId, targetId)))
    throw new HttpError(404, 'not_following', `${followerId} does not follow ${targetId}`);
  const accepted = await publishAccepted(deps, event);
  await removeFollow(deps.follows, followerId, targetId);
  return { followerId, followeeId: targetId, eventId: accepted.eventId };
}

export async function mute(deps: Pick<FollowDeps, 'follows'>, followerId: string, targetId: string, muted: boolean) {
  const edge = await setMuted(deps.follows, followerId, targetId, muted);
  if (!edge) throw new HttpError(404, 'not_following', `${followerId} does not follow ${targetId}`);
  return view(edge);
}

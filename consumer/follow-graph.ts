import type { Model } from 'mongoose';
import { recordFollow, removeFollow, type FollowDoc } from '../shared/models/follow.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * FOLLOW and UNFOLLOW events keep the follow graph in MongoDB. Both are idempotent, so a
 * redelivered event changes nothing twice; the FOLLOW notification itself still goes through
 * the per-recipient path like any other event.
 */
/** Whether applyToFollowGraph writes anything for this event. */
export function affectsFollowGraph(event: ParsedEvent): boolean {
  return (
    (event.type === 'FOLLOW' || event.type === 'UNFOLLOW') &&
    event.actorId !== undefined &&
    event.actorId !== event.targetId
  );
}

export async function applyToFollowGraph(follows: Model<FollowDoc>, event: ParsedEvent): Promise<void> {
  if (!affectsFollowGraph(event) || event.actorId === undefined) return;
  if (event.type === 'FOLLOW') await recordFollow(follows, event.actorId, event.targetId);
  if (event.type === 'UNFOLLOW') await removeFollow(follows, event.actorId, event.targetId);
}

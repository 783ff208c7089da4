import type { Model } from 'mongoose';
import { recordFollow, removeFollow, type FollowDoc } from '../shared/models/follow.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * FOLLOW and UNFOLLOW events keep the follow graph in MongoDB. Both are idempotent, so a
 * redelivered event changes nothing twice; the FOLLOW notification itself still goes through
 * the per-recipient path like any other event.
 */
export async function applyToFollowGraph(follows: Model<FollowDoc>, event: ParsedEvent): Promise<void> {
  if (event.actorId === undefined || event.actorId === event.targetId) return;
  if (event.type === 'FOLLOW') await recordFollow(follows, event.actorId, event.targetId);
  if (event.type === 'UNFOLLOW') await removeFollow(follows, event.actorId, event.targetId);
}

import type { Model } from 'mongoose';
import { recordFollow, removeFollow, type FollowDoc } from '../shared/models/follow.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * The graph write in progress (or last started) for each follower → followee pair, per model (one
 * per consumer process): the next write of a pair starts only after it. The writes run beside
 * the commit (dispatch-event.ts), so a FOLLOW and the UNFOLLOW after it, in one batch or in
 * consecutive ones, would otherwise race, and a delete that finished before the upsert would
 * leave an edge the user removed. Entries go once their write is the last of its pair.
 */
const inProgress = new WeakMap<Model<FollowDoc>, Map<string, Promise<void>>>();

/**
 * FOLLOW and UNFOLLOW events keep the follow graph in MongoDB. Both are idempotent, so a
 * redelivered event changes nothing twice; the FOLLOW notification itself still goes through
 * the per-recipient path like any other event. Writes of one pair apply in the order their
 * events arrive at this consumer. (A FOLLOW retried after its write failed, once a later UNFOLLOW
 * succeeded, still recreates the edge: the graph keeps no record of a removed edge to compare
 * against. docs/pipeline.md "Follow graph".)
 */
export function applyToFollowGraph(follows: Model<FollowDoc>, event: ParsedEvent): Promise<void> {
  const { actorId, targetId } = event;
  if (actorId === undefined || actorId === targetId) return Promise.resolve();
  if (event.type !== 'FOLLOW' && event.type !== 'UNFOLLOW') return Promise.resolve();
  let pairs = inProgress.get(follows);
  if (!pairs) inProgress.set(follows, (pairs = new Map()));
  const pair = `${actorId}\u0000${targetId}`;
  const write = () =>
    event.type === 'FOLLOW'
      ? recordFollow(follows, actorId, targetId).then(() => undefined)
      : removeFollow(follows, actorId, targetId).then(() => undefined);
  const before = pairs.get(pair);
  // After the previous write of the pair, whatever its outcome (its own event handles a failure).
  const mine = before ? before.then(write, write) : write();
  const tail = mine.catch(() => undefined);
  pairs.set(pair, tail);
  void tail.then(() => {
    if (pairs.get(pair) === tail) pairs.delete(pair);
  });
  return mine;
}

import { Schema, type Connection, type Model } from 'mongoose';

/**
 * The follow graph: one document per edge follower → followee. `muted` keeps the edge (the
 * follower still follows) but the followee's posts notify nobody through it.
 */
export interface FollowDoc {
  followerId: string;
  followeeId: string;
  muted: boolean;
  createdAt: Date;
}

const followSchema = new Schema<FollowDoc>(
  {
    followerId: { type: String, required: true },
    followeeId: { type: String, required: true },
    muted: { type: Boolean, default: false },
    createdAt: { type: Date, required: true },
  },
  { collection: 'follows', versionKey: false },
);

// One edge per pair, and the order followers of a user are paged in (fan-out and the API).
followSchema.index({ followeeId: 1, followerId: 1 }, { unique: true });
// Who a user follows, paged by followee.
followSchema.index({ followerId: 1, followeeId: 1 });

export function followModel(connection: Connection): Model<FollowDoc> {
  return (
    (connection.models.Follow as Model<FollowDoc> | undefined) ?? connection.model<FollowDoc>('Follow', followSchema)
  );
}

/** The edge operations, here so the HTTP API and the consumer's FOLLOW/UNFOLLOW handling agree. */

/** Idempotent: true when the edge is new, false when it already existed (its mute is kept). */
export async function recordFollow(Follow: Model<FollowDoc>, followerId: string, followeeId: string): Promise<boolean> {
  try {
    const result = await Follow.updateOne(
      { followerId, followeeId },
      { $setOnInsert: { muted: false, createdAt: new Date() } },
      { upsert: true },
    );
    return result.upsertedCount > 0;
  } catch (err) {
    // Two concurrent upserts of one pair (the API and the consumer): the loser finds the edge.
    if ((err as { code?: unknown }).code === DUPLICATE_KEY) return false;
    throw err;
  }
}

const DUPLICATE_KEY = 11000;

/** Idempotent: true when an edge was removed. */
export async function removeFollow(Follow: Model<FollowDoc>, followerId: string, followeeId: string): Promise<boolean> {
  const result = await Follow.deleteOne({ followerId, followeeId });
  return result.deletedCount > 0;
}

/** The updated edge, or null when the follower does not follow the followee. */
export async function setMuted(Follow: Model<FollowDoc>, followerId: string, followeeId: string, muted: boolean) {
  return Follow.findOneAndUpdate({ followerId, followeeId }, { $set: { muted } }, { new: true }).lean();
}

export async function findFollow(Follow: Model<FollowDoc>, followerId: string, followeeId: string) {
  return Follow.findOne({ followerId, followeeId }).lean();
}

/**
 * One page of a user's followers in followerId order, strictly after `after`. `notifiable`
 * leaves out muted edges (what a fan-out needs). Bounded either by `limit` rows or by `through`,
 * an inclusive upper followerId: a re-run fan-out page reads exactly the range it was first cut
 * to (consumer/fanout.ts), however many follows were added inside it since. Both bounds are on
 * the `{followeeId, followerId}` index.
 */
export async function followersPage(
  Follow: Model<FollowDoc>,
  followeeId: string,
  opts: { after?: string | undefined; notifiable?: boolean } & (
    { limit: number; through?: undefined } | { through: string; limit?: number }
  ),
) {
  const range = {
    ...(opts.after !== undefined ? { $gt: opts.after } : {}),
    ...(opts.through !== undefined ? { $lte: opts.through } : {}),
  };
  const query = Follow.find({
    followeeId,
    ...(Object.keys(range).length > 0 ? { followerId: range } : {}),
    ...(opts.notifiable ? { muted: false } : {}),
  }).sort({ followerId: 1 });
  return (opts.limit !== undefined ? query.limit(opts.limit) : query).lean();
}

/** One page of who a user follows, in followeeId order, strictly after `after`. */
export async function followingPage(
  Follow: Model<FollowDoc>,
  followerId: string,
  opts: { after?: string | undefined; limit: number },
) {
  return Follow.find({ followerId, ...(opts.after !== undefined ? { followeeId: { $gt: opts.after } } : {}) })
    .sort({ followeeId: 1 })
    .limit(opts.limit)
    .lean();
}

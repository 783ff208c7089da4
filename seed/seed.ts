import type { Models } from '../shared/models/index.js';
import type { Redis } from '../shared/redis.js';
import { storeUserNames } from '../shared/user-directory.js';
import { DEMO_POSTS, DEMO_USERS } from './data.js';

/**
 * Upserts by fixed ids: running the seed twice leaves exactly the same data, and `createdAt`
 * is only set on first insert so it does not move on re-runs. The users' names are copied to
 * Redis as well, where the consumer reads them (shared/user-directory.ts).
 */
export async function seedDemoData(models: Models, redis: Redis): Promise<{ users: number; posts: number }> {
  const now = new Date();
  await models.User.bulkWrite(
    DEMO_USERS.map((u) => ({
      updateOne: {
        filter: { _id: u._id },
        update: { $set: { name: u.name }, $setOnInsert: { createdAt: now } },
        upsert: true,
      },
    })),
  );
  await models.Post.bulkWrite(
    DEMO_POSTS.map((p) => ({
      updateOne: {
        filter: { _id: p._id },
        update: { $set: { authorId: p.authorId, title: p.title }, $setOnInsert: { createdAt: now } },
        upsert: true,
      },
    })),
  );
  await storeUserNames(redis, DEMO_USERS);
  return { users: DEMO_USERS.length, posts: DEMO_POSTS.length };
}

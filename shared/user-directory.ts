import { keys } from './keys.js';
import { getMany, type Redis } from './redis.js';

/**
 * The Redis copy of users' display names, which the consumer formats messages from without
 * asking MongoDB. Whoever writes users (the seed) writes their copies too; the consumer refills
 * a missing one from MongoDB in the background (consumer/user-names.ts). An unknown id is kept
 * as '' so it is not looked up again and again.
 */

/** How long a copy lives: names change only when users are rewritten, which rewrites the copy. */
export const USER_NAME_COPY_TTL_SECONDS = 30 * 24 * 3600;

export async function storeUserNames(redis: Redis, users: ReadonlyArray<{ _id: string; name: string }>): Promise<void> {
  if (users.length === 0) return;
  const set = (u: { _id: string; name: string }) =>
    [keys.userName(u._id), u.name, 'EX', USER_NAME_COPY_TTL_SECONDS] as const;
  // Names are untagged (each user's in its own slot): on a cluster one SET each, sent together.
  if (redis.isCluster) {
    await Promise.all(users.map((u) => redis.set(...set(u))));
    return;
  }
  const tx = redis.multi();
  for (const u of users) tx.set(...set(u));
  await tx.exec();
}

/** Fills a missing copy only: a copy written meanwhile by a user write is newer. */
export async function fillUserName(redis: Redis, userId: string, name: string | null): Promise<void> {
  await redis.set(keys.userName(userId), name ?? '', 'EX', USER_NAME_COPY_TTL_SECONDS, 'NX');
}

export async function readUserNames(redis: Redis, ids: string[]): Promise<Array<string | null | undefined>> {
  if (ids.length === 0) return [];
  const copies = await getMany(
    redis,
    ids.map((id) => keys.userName(id)),
  );
  // undefined: no copy (look it up); null: a known unknown id; a string: the name.
  return copies.map((c) => (c === null ? undefined : c === '' ? null : c));
}

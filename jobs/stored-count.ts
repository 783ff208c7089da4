import type { Redis } from '../shared/redis.js';
import { keys } from '../shared/keys.js';

/**
 * The per-user counter that decides who is worth a cap query. Running high (a replay, a
 * concurrent cap run) costs one extra check; running low lets a user grow past the cap unchecked,
 * so only a lost key or a crash between insert and add may do that, and a lost key counts as 0
 * rather than sending every user to MongoDB (docs/persistence.md). A batch's inserts are added
 * by its after-write script (jobs/after-write.ts), which returns the counters after the add.
 */

/**
 * Brings the counter to the real count by the difference with the value this batch's add
 * returned, instead of a SET: increments of concurrent batches landing after that add are kept,
 * so no insert is forgotten. `stored` above `counted` (the key was lost) raises it back.
 */
export async function settleStored(redis: Redis, userId: string, counted: number, stored: number): Promise<void> {
  if (counted !== stored) await redis.decrby(keys.storedCount(userId), counted - stored);
}

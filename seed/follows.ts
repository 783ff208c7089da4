import type { Models } from '../shared/models/index.js';
import { DEMO_USERS } from './data.js';

/**
 * The demo follow graph: every demo user follows user1 (Ada) and the next demo user, and
 * user1 has a crowd of extra followers (`fan00001`…) so a POST by user1 shows a real fan-out.
 * Upserts by the (follower, followee) pair: running it again changes nothing.
 */
export const CROWD_FOLLOWEE = 'user1';
export const DEFAULT_CROWD_SIZE = 1000;
const INSERT_BATCH = 1000;

export function crowdFollowerId(i: number): string {
  return `fan${String(i + 1).padStart(5, '0')}`;
}

export function demoFollowEdges(crowdSize: number): Array<{ followerId: string; followeeId: string }> {
  const ids: string[] = DEMO_USERS.map((u) => u._id);
  const edges: Array<{ followerId: string; followeeId: string }> = ids.flatMap((followerId, i) => {
    const next = ids[(i + 1) % ids.length] as string;
    return [
      ...(followerId !== CROWD_FOLLOWEE ? [{ followerId, followeeId: CROWD_FOLLOWEE }] : []),
      ...(next !== CROWD_FOLLOWEE ? [{ followerId, followeeId: next }] : []),
    ];
  });
  for (let i = 0; i < crowdSize; i++) edges.push({ followerId: crowdFollowerId(i), followeeId: CROWD_FOLLOWEE });
  return edges;
}

export async function seedFollowGraph(models: Models, crowdSize = DEFAULT_CROWD_SIZE): Promise<{ follows: number }> {
  const edges = demoFollowEdges(crowdSize);
  // Upserts one by one are slow on FerretDB: read which edges exist, insert only the others.
  const followees = [...new Set(edges.map((e) => e.followeeId))];
  const existing = await models.Follow.find(
    { followeeId: { $in: followees } },
    { followerId: 1, followeeId: 1 },
  ).lean();
  const have = new Set(existing.map((e) => `${e.followerId}>${e.followeeId}`));
  const createdAt = new Date();
  const missing = edges
    .filter((e) => !have.has(`${e.followerId}>${e.followeeId}`))
    .map((e) => ({ ...e, muted: false, createdAt }));
  for (let i = 0; i < missing.length; i += INSERT_BATCH) {
    await models.Follow.insertMany(missing.slice(i, i + INSERT_BATCH), { ordered: false }).catch((err: unknown) => {
      // A concurrent seed inserted some of them first: the unique index kept one of each.
      if ((err as { code?: unknown }).code !== 11000) throw err;
    });
  }
  return { follows: edges.length };
}

import type { Redis } from '../shared/redis.js';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import { RECORD_STAGES_LUA } from '../shared/timeline.js';
import type { DeliveryState } from '../shared/models/notification-state.js';

/**
 * Everything a persist batch tells Redis after its insert, in one script call whatever the
 * batch's size (it used to be about one request per notification):
 *
 * - the per-user stored counters grow by what the insert created (jobs/stored-count.ts), and
 *   come back with each user's cap threshold (jobs/cap.ts);
 * - the `unpersisted:{id}` marks of the versions stored (or older ones: a newer version's mark
 *   stays for its own batch, shared/unpersisted-mark.ts) are deleted and then the ack and read
 *   marks are read again, for the advance of documents that existed already or were acked
 *   during the write. Inside one
 *   script this is atomic, so the order shared/buffer.ts relies on holds trivially: an ACK that
 *   saw the mark set `acked:{id}` before this call, and this call reads it;
 * - the 'persisted' timeline stage (HSETNX: the first time is kept, as shared/timeline.ts does);
 * - a notification stored undelivered whose buffered copy is gone un-marks its user's
 *   "replay clean" (shared/replay-clean.ts).
 *
 * On a single server one call names every notification and user of the batch; on a cluster
 * there is one call per user (afterWrite below).
 */
const AFTER_WRITE = LuaScript.fromFile(new URL('./after-write.lua', import.meta.url), {
  RECORD_STAGES: RECORD_STAGES_LUA,
});

export interface AfterWriteInput {
  /** The batch's notifications (one entry per id), each with the version the batch stored. */
  notifications: ReadonlyArray<{ id: string; userId: string; version: number }>;
  /** Documents the insert created, per user. */
  insertedByUser: Map<string, number>;
  /** Per notification: stored as undelivered (so its user's replay-clean mark may have to go). */
  storedUndelivered: readonly boolean[];
  timelineTtlSeconds: number;
  persistedAtMs: number;
}

/** A user's stored counter after a batch's increment, and when the cap is worth asking about them again. */
export interface StoredCount {
  counted: number;
  /** Set by a cap check that left the user over the cap (jobs/cap.ts); null when none. */
  recheckAt: number | null;
}

export interface AfterWrite {
  /** Per user with inserts in this batch (for jobs/cap.ts). */
  counters: Map<string, StoredCount>;
  /** Per notification, the delivery state Redis holds now. */
  state: DeliveryState[];
}

const epochMs = (raw: unknown): number | null => (raw === null || raw === undefined ? null : Number(raw));

/** One script call's share of the batch: all of it on one server, one user's part on a cluster. */
function afterWriteCall(
  input: AfterWriteInput,
  part: number[],
): { keys: string[]; args: Array<string | number>; users: string[] } {
  const notifications = part.map((i) => input.notifications[i]!);
  const users = [...new Set(notifications.map((n) => n.userId))].filter((u) => input.insertedByUser.has(u));
  const cleanUsers = new Map<string, number>();
  const cleanIndex = part.map((i) => {
    if (!input.storedUndelivered[i]) return 0;
    const userId = input.notifications[i]!.userId;
    let k = cleanUsers.get(userId);
    if (k === undefined) cleanUsers.set(userId, (k = cleanUsers.size + 1));
    return k;
  });
  return {
    keys: [
      ...users.map((u) => keys.storedCount(u)),
      ...users.map((u) => keys.capRecheckAt(u)),
      ...notifications.flatMap((n) => [
        keys.unpersisted(n.userId, n.id),
        keys.acked(n.userId, n.id),
        keys.readBeforeStored(n.userId, n.id),
        keys.timeline(n.userId, n.id),
        keys.notification(n.userId, n.id),
      ]),
      ...[...cleanUsers.keys()].map((u) => keys.replayClean(u)),
    ],
    args: [
      users.length,
      notifications.length,
      input.timelineTtlSeconds,
      input.persistedAtMs,
      ...users.map((u) => input.insertedByUser.get(u)!),
      ...cleanIndex,
      ...notifications.map((n) => n.version),
    ],
    users,
  };
}

/**
 * One script call for the whole batch on a single server. On a cluster a script may touch one
 * slot, and every key of a user carries the user's tag (shared/keys.ts): one call per user of the
 * batch, sent together (one pipeline per node). Each call still deletes a notification's
 * unpersisted mark and reads its acked mark atomically, which is all the order above needs.
 */
export async function afterWrite(redis: Redis, input: AfterWriteInput): Promise<AfterWrite> {
  const all = input.notifications.map((_, i) => i);
  const byUser = new Map<string, number[]>();
  for (const i of all) {
    const userId = input.notifications[i]!.userId;
    byUser.set(userId, [...(byUser.get(userId) ?? []), i]);
  }
  const parts = redis.isCluster ? [...byUser.values()] : [all];
  const calls = parts.map((part) => afterWriteCall(input, part));
  const replies = await AFTER_WRITE.runMany(redis, calls);
  const counters = new Map<string, StoredCount>();
  const state: DeliveryState[] = new Array(input.notifications.length);
  parts.forEach((part, p) => {
    const reply = replies[p];
    if (reply instanceof Error) throw reply;
    const out = reply as unknown[];
    const { users } = calls[p]!;
    const u = users.length;
    users.forEach((userId, j) => counters.set(userId, { counted: Number(out[j]), recheckAt: epochMs(out[u + j]) }));
    part.forEach((i, k) => {
      state[i] = { ackedAtMs: epochMs(out[2 * u + k]), readAtMs: epochMs(out[2 * u + part.length + k]) };
    });
  });
  return { counters, state };
}

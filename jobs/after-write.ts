import type { Redis } from 'ioredis';
import { keys } from '../shared/keys.js';
import { LuaScript } from '../shared/lua.js';
import type { DeliveryState } from '../shared/models/notification-state.js';

/**
 * Everything a persist batch tells Redis after its insert, in one script call whatever the
 * batch's size (it used to be about one request per notification):
 *
 * - the per-user stored counters grow by what the insert created (jobs/stored-count.ts);
 * - the `unpersisted:{id}` marks are deleted and then the ack and read marks are read again, for
 *   the advance of documents that existed already or were acked during the write. Inside one
 *   script this is atomic, so the order shared/buffer.ts relies on holds trivially: an ACK that
 *   saw the mark set `acked:{id}` before this call, and this call reads it;
 * - the 'persisted' timeline stage (HSETNX: the first time is kept, as shared/timeline.ts does);
 * - a notification stored undelivered whose buffered copy is gone un-marks its user's
 *   "replay clean" (shared/replay-clean.ts).
 *
 * Like the buffer's scripts it names keys of many notifications and users: one Redis node.
 */
const AFTER_WRITE = LuaScript.fromFile(new URL('./after-write.lua', import.meta.url));

export interface AfterWriteInput {
  /** The batch's notifications (one entry per id). */
  notifications: ReadonlyArray<{ id: string; userId: string }>;
  /** Documents the insert created, per user. */
  insertedByUser: Map<string, number>;
  /** Per notification: stored as undelivered (so its user's replay-clean mark may have to go). */
  storedUndelivered: readonly boolean[];
  timelineTtlSeconds: number;
  persistedAtMs: number;
}

export interface AfterWrite {
  /** Each user's stored counter after this batch's increment (for jobs/cap.ts). */
  counters: Map<string, number>;
  /** Per notification, the delivery state Redis holds now. */
  state: DeliveryState[];
}

const epochMs = (raw: unknown): number | null => (raw === null || raw === undefined ? null : Number(raw));

export async function afterWrite(redis: Redis, input: AfterWriteInput): Promise<AfterWrite> {
  const { notifications } = input;
  const users = [...input.insertedByUser.keys()];
  const cleanUsers = new Map<string, number>();
  const cleanIndex = notifications.map((n, i) => {
    if (!input.storedUndelivered[i]) return 0;
    let k = cleanUsers.get(n.userId);
    if (k === undefined) cleanUsers.set(n.userId, (k = cleanUsers.size + 1));
    return k;
  });
  const scriptKeys = [
    ...users.map((u) => keys.storedCount(u)),
    ...notifications.flatMap((n) => [keys.unpersisted(n.id), keys.acked(n.id), keys.readBeforeStored(n.id), keys.timeline(n.id), keys.notification(n.id)]),
    ...[...cleanUsers.keys()].map((u) => keys.replayClean(u)),
  ];
  const args = [
    users.length,
    notifications.length,
    input.timelineTtlSeconds,
    input.persistedAtMs,
    ...users.map((u) => input.insertedByUser.get(u)!),
    ...cleanIndex,
  ];
  const out = (await AFTER_WRITE.run(redis, scriptKeys, args)) as unknown[];
  const n = notifications.length;
  return {
    counters: new Map(users.map((u, j) => [u, Number(out[j])])),
    state: notifications.map((_, i) => ({ ackedAtMs: epochMs(out[users.length + i]), readAtMs: epochMs(out[users.length + n + i]) })),
  };
}

import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import { decodeNotification, type Notification } from './notification.js';
import { LuaScript } from './lua.js';

/**
 * The Redis buffer: each notification under `notif:{id}` with a TTL, indexed in the user's
 * pending set until acked. It is the source of truth for delivery while it lasts; the socket
 * path only ever pushes what it read from here, so a lost wake-up delays but never loses.
 * The consumer writes it in one script per event (consumer/commit.lua); AUTH reads it in one
 * (ws-server/replay-state.lua); this file holds the reads and the ACK the other services share.
 */

export async function readNotifications(redis: Redis, ids: string[]): Promise<Array<Notification | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.notification(id)));
  return raw.map((r) => (r === null ? null : decodeNotification(r)));
}

export type AckOutcome = 'acked' | 'already-acked' | 'not-found';

export interface BufferAck {
  outcome: AckOutcome;
  /** The unpersisted mark was there after the acked mark was set: jobs' persist job carries the ack. */
  unpersisted: boolean;
}

/*
 * The whole ACK frame in one script call, whatever its size (header in buffer-ack.lua):
 * ownership against the buffered notification itself, out of the pending set, the acked mark,
 * the unpersisted check, and the 'acked' and 'sent' timeline stages.
 */
const ACK_SCRIPT = LuaScript.fromFile(new URL('./buffer-ack.lua', import.meta.url));

/**
 * Acks `ids` of `userId` in the buffer. `sentAtMs` gives when an id was first sent (recorded as
 * its 'sent' stage; undefined records none). Duplicate ids count once.
 */
export async function ackInBuffer(
  redis: Redis,
  userId: string,
  ids: string[],
  ttlSeconds: number,
  nowMs = Date.now(),
  sentAtMs: (id: string) => number | undefined = () => undefined,
): Promise<Map<string, BufferAck>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const scriptKeys = [keys.inbox(userId)];
  const args: string[] = [userId, String(nowMs), String(ttlSeconds)];
  for (const id of unique) {
    scriptKeys.push(keys.notification(id), keys.acked(id), keys.unpersisted(id), keys.timeline(id));
    args.push(id, String(sentAtMs(id) ?? ''));
  }
  const result = (await ACK_SCRIPT.run(redis, scriptKeys, args)) as Array<string | number>;
  return new Map(
    unique.map((id, i) => [id, { outcome: (result[2 * i] ?? 'not-found') as AckOutcome, unpersisted: result[2 * i + 1] === 1 }]),
  );
}

/**
 * The ids whose latest buffered version jobs has not stored yet. jobs clears the mark after
 * its write and before it re-reads the ack marks, so an ACK that still sees the mark is
 * certain to be carried by that re-read (jobs/persist.ts, jobs/acks.ts).
 */
export async function unpersistedIds(redis: Redis, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const marks = await redis.mget(ids.map((id) => keys.unpersisted(id)));
  return new Set(ids.filter((_, i) => marks[i] !== null));
}

/** Epoch ms of each id's ack, or null if it was not acked (or Redis no longer knows). */
export async function ackedAt(redis: Redis, ids: string[]): Promise<Array<number | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.acked(id)));
  return raw.map((r) => (r === null ? null : Number(r)));
}

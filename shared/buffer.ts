import { Cluster } from 'ioredis';
import { keys } from './keys.js';
import { decodeNotification, type Notification } from './notification.js';
import { LuaScript } from './lua.js';
import { getMany, type Redis } from './redis.js';
import { RECORD_STAGES_LUA } from './timeline.js';

/**
 * The Redis buffer: each notification under `notif:{u:<userId>}:<id>` with a TTL, indexed in the
 * user's pending set until acked. Every key of a notification carries its user's hash tag
 * (shared/keys.ts), so whoever reads or acks one names its user. It is the source of truth for
 * delivery while it lasts; the socket path only ever pushes what it read from here, so a lost
 * wake-up delays but never loses.
 * The consumer writes it in one script per event (consumer/commit.lua); AUTH reads it in one
 * (ws-server/replay-state.lua); this file holds the reads and the ACK the other services share.
 */

/** The user's buffered notifications `ids` (one slot: one MGET on a cluster too); null where none is. */
export async function readNotifications(
  redis: Redis,
  userId: string,
  ids: string[],
): Promise<Array<Notification | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.notification(userId, id)));
  return raw.map((r) => (r === null ? null : decodeNotification(r)));
}

/** Glob metacharacters of SCAN MATCH, escaped so a prefix is matched literally. */
const globLiteral = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');

/**
 * The user of a buffered notification known only by id, or undefined. Only for a request without a
 * caller (dev mode without a token, producer/notifications/read.ts): every other path knows the
 * user. It SCANs the keyspace (every master of a cluster), so it costs what the keyspace is
 * large; dev mode only ever runs on a developer's data, and production refuses dev mode.
 */
export async function findBufferedOwner(redis: Redis, keyPrefix: string, id: string): Promise<string | undefined> {
  // The key with a marker for the user: what comes before and after it is the same for every user.
  const [name, tail] = keys.notification('\u0000', id).split('\u0000') as [string, string];
  const head = `${keyPrefix}${name}`;
  const pattern = `${globLiteral(head)}*${globLiteral(tail)}`;
  for (const server of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      const key = found.find((k) => k.startsWith(head) && k.endsWith(tail));
      if (key !== undefined) return key.slice(head.length, -tail.length);
    } while (cursor !== '0');
  }
  return undefined;
}

export type AckOutcome = 'acked' | 'already-acked' | 'not-found' | 'stale-version';

export interface BufferAck {
  outcome: AckOutcome;
  /** The unpersisted mark was there after the acked mark was set: jobs' persist job carries the ack. */
  unpersisted: boolean;
  /** The buffered version: the one the ack settled, or for 'stale-version' the newer one left pending (0: not found). */
  version: number;
  /** 'stale-version' only: the newer buffered notification, still pending, for the socket to be sent. */
  newer?: Notification;
}

/*
 * The whole ACK frame in one script call, whatever its size (header in buffer-ack.lua):
 * ownership against the buffered notification itself, its version against the acked one, out
 * of the pending set, the acked mark, the unpersisted check, and the 'acked' and 'sent' timeline
 * stages.
 */
const ACK_SCRIPT = LuaScript.fromFile(new URL('./buffer-ack.lua', import.meta.url), {
  RECORD_STAGES: RECORD_STAGES_LUA,
});

/** What an ACK says of each id besides the id: optional, an unknown answer keeps the plain ack. */
export interface AckDetails {
  /** When an id was first sent (recorded as its 'sent' stage; undefined records none). */
  sentAtMs?: (id: string) => number | undefined;
  /**
   * The version of an id the client acks: a newer buffered one stays pending ('stale-version').
   * Undefined acks whatever version is buffered (clients before versions).
   */
  versionOf?: (id: string) => number | undefined;
}

/** Values the script returns per id (buffer-ack.lua). */
const ACK_VALUES_PER_ID = 4;

/** Acks `ids` of `userId` in the buffer. Duplicate ids count once. */
export async function ackInBuffer(
  redis: Redis,
  userId: string,
  ids: string[],
  ttlSeconds: number,
  nowMs = Date.now(),
  details: AckDetails = {},
): Promise<Map<string, BufferAck>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const scriptKeys = [keys.inbox(userId)];
  const args: string[] = [userId, String(nowMs), String(ttlSeconds)];
  for (const id of unique) {
    scriptKeys.push(
      keys.notification(userId, id),
      keys.acked(userId, id),
      keys.unpersisted(userId, id),
      keys.timeline(userId, id),
    );
    args.push(id, String(details.sentAtMs?.(id) ?? ''), String(details.versionOf?.(id) ?? ''));
  }
  const result = (await ACK_SCRIPT.run(redis, scriptKeys, args)) as Array<string | number | null>;
  return new Map(
    unique.map((id, i) => {
      const at = ACK_VALUES_PER_ID * i;
      const outcome = (result[at] ?? 'not-found') as AckOutcome;
      const newer = result[at + 3];
      const ack: BufferAck = {
        outcome,
        unpersisted: result[at + 1] === 1,
        version: Number(result[at + 2] ?? 0),
      };
      if (outcome === 'stale-version' && typeof newer === 'string') ack.newer = decodeNotification(newer);
      return [id, ack];
    }),
  );
}

/**
 * The ids whose latest buffered version jobs has not stored yet. jobs clears the mark after
 * its write and before it re-reads the ack marks, so an ACK that still sees the mark is
 * certain to be carried by that re-read (jobs/persist.ts, jobs/acks.ts).
 */
export async function unpersistedIds(
  redis: Redis,
  notifications: ReadonlyArray<{ userId: string; id: string }>,
): Promise<Set<string>> {
  if (notifications.length === 0) return new Set();
  const marks = await getMany(
    redis,
    notifications.map((n) => keys.unpersisted(n.userId, n.id)),
  );
  return new Set(notifications.filter((_, i) => marks[i] !== null).map((n) => n.id));
}

/** Epoch ms of each of the user's ids' ack, or null if it was not acked (or Redis no longer knows). */
export async function ackedAt(redis: Redis, userId: string, ids: string[]): Promise<Array<number | null>> {
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.acked(userId, id)));
  return raw.map((r) => (r === null ? null : Number(r)));
}

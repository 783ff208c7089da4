import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Redis } from '../shared/redis.js';
import { encodeAckBatch } from '../shared/ack-batch.js';
import { ackInBuffer, type AckDetails } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { JSON_CONTENT_TYPE } from '../shared/messages.js';
import type { Models } from '../shared/models/index.js';
import type { Notification } from '../shared/notification.js';

export interface AckDeps {
  redis: Redis;
  models: Models;
  publisher: ChannelWrapper;
  acksQueue: string;
  bufferTtlSeconds: number;
}

export interface AckResult {
  /** Accepted: acked now, or acked before (harmless). */
  acked: string[];
  newlyAcked: string[];
  /** The version each of `acked` settled: the buffered one (a newer one is never settled). */
  ackedVersions: Map<string, number>;
  /** Not buffered in Redis: not this user's, unknown, or stored in MongoDB only (stored-ack.ts). */
  missing: string[];
  /**
   * Acks of an older version than the buffer holds (a grown aggregate committed after the client
   * got the old one): nothing changed, the newer version (these) stays pending and must be sent.
   */
  stale: Notification[];
}

/**
 * A user acks notifications (one ACK frame): one script call in Redis, whatever the number of
 * ids (shared/buffer-ack.lua: ownership, version, pending set, acked mark, unpersisted check,
 * 'acked' and 'sent' timeline stages), then at most one broker message for jobs, which marks the
 * stored copies delivered up to the acked versions. Redis first, because it is what stops
 * redelivery; a failed publish rejects so the client retries, and a retried ACK of an
 * already-acked id is published again (jobs applies acks idempotently), so no ack is lost between
 * the two. Redis and RabbitMQ only: ids Redis does not buffer are left to stored-ack.ts, which
 * asks MongoDB after this answer.
 *
 * Not published: acks of notifications jobs has not stored yet (the script saw their
 * `unpersisted` mark after setting the acked mark). jobs clears that mark after its insert and
 * only then re-reads the acked marks, so it will store these as delivered; at the default
 * PERSIST_DELAY_MS that is nearly every ack, and then the frame costs no broker message at all
 * (docs/persistence.md). Nor the stale ones: nothing was acked.
 *
 * `details.sentAtMs` is when this instance first sent each id (Delivery.firstSentAtMs): the
 * script records it as the 'sent' stage, so a notification never acked has no 'sent' stage.
 * `details.versionOf` is the version the client acks (ack-versions.ts).
 */
export async function acknowledge(
  deps: AckDeps,
  userId: string,
  ids: string[],
  details: AckDetails = {},
  nowMs = Date.now(),
): Promise<AckResult> {
  const acks = await ackInBuffer(deps.redis, userId, ids, deps.bufferTtlSeconds, nowMs, details);
  const result: AckResult = { acked: [], newlyAcked: [], ackedVersions: new Map(), missing: [], stale: [] };
  const toPublish: Array<{ id: string; version: number }> = [];
  for (const [id, ack] of acks) {
    if (ack.outcome === 'not-found') {
      result.missing.push(id);
      continue;
    }
    if (ack.outcome === 'stale-version') {
      if (ack.newer) result.stale.push(ack.newer);
      continue;
    }
    result.acked.push(id);
    result.ackedVersions.set(id, ack.version);
    if (ack.outcome === 'acked') result.newlyAcked.push(id);
    if (!ack.unpersisted) toPublish.push({ id, version: ack.version });
  }
  await publishAcks(deps, userId, toPublish, nowMs);
  return result;
}

/**
 * Which of `ids` (none of them buffered in Redis) MongoDB holds for this user, with the version
 * stored: past the buffer's TTL a notification lives only there (the replay catch-up sends
 * those). One query, with MongoDB's deadline; stored-ack.ts runs it among the background loads,
 * off the frame path.
 */
export async function ownedInMongo(
  models: Models,
  userId: string,
  ids: string[],
): Promise<Array<{ id: string; version: number }>> {
  if (ids.length === 0) return [];
  const docs = await models.Notification.find({ _id: { $in: ids }, userId }, { _id: 1, version: 1 }).lean<
    Array<{ _id: string; version?: number }>
  >();
  return docs.map((d) => ({ id: d._id, version: d.version ?? 1 }));
}

/**
 * Acks MongoDB-only notifications whose ownership ownedInMongo confirmed, each at the version
 * stored (stored-ack.ts has left out those the client holds an older version of): their acked
 * marks in Redis, then one broker message for jobs. Redis and RabbitMQ only, like `acknowledge`.
 */
export async function acknowledgeStored(
  deps: AckDeps,
  userId: string,
  owned: Array<{ id: string; version: number }>,
  sentAtMs: (id: string) => number | undefined = () => undefined,
  nowMs = Date.now(),
): Promise<void> {
  await markStoredOnlyAcked(
    deps.redis,
    userId,
    owned.map((o) => o.id),
    nowMs,
    deps.bufferTtlSeconds,
    sentAtMs,
  );
  await publishAcks(deps, userId, owned, nowMs);
}

/**
 * One AckBatchMessage for all of `acks` (none when there are none), with the version each settled:
 * jobs marks a stored copy delivered only up to it, so an ack of version 1 that reaches jobs after
 * version 2 was stored leaves version 2 undelivered.
 */
async function publishAcks(
  deps: AckDeps,
  userId: string,
  acks: Array<{ id: string; version: number }>,
  nowMs: number,
): Promise<void> {
  if (acks.length === 0) return;
  const body = encodeAckBatch(
    userId,
    new Date(nowMs).toISOString(),
    acks.map((a) => a.id),
    acks.map((a) => a.version),
  );
  await deps.publisher.sendToQueue(deps.acksQueue, body, { persistent: true, contentType: JSON_CONTENT_TYPE });
}

/*
 * The acked mark is what replay and redelivery consult, so a MongoDB-only notification acked
 * here is not replayed again before jobs has marked it delivered. NX keeps the first ack time;
 * the 'acked' and 'sent' stages go in the same transaction, as in the buffer's ACK script (one
 * user's keys: one slot on a cluster).
 */
async function markStoredOnlyAcked(
  redis: Redis,
  userId: string,
  ids: string[],
  nowMs: number,
  ttlSeconds: number,
  sentAtMs: (id: string) => number | undefined,
): Promise<void> {
  if (ids.length === 0) return;
  const tx = redis.multi();
  for (const id of ids) {
    const timeline = keys.timeline(userId, id);
    const sentAt = sentAtMs(id);
    tx.set(keys.acked(userId, id), String(nowMs), 'EX', ttlSeconds, 'NX').hsetnx(timeline, 'acked', String(nowMs));
    if (sentAt !== undefined) tx.hsetnx(timeline, 'sent', String(sentAt));
    tx.expire(timeline, ttlSeconds);
  }
  await tx.exec();
}

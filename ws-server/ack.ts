import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Redis } from '../shared/redis.js';
import { encodeAckBatch } from '../shared/ack-batch.js';
import { ackInBuffer } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { JSON_CONTENT_TYPE } from '../shared/messages.js';
import type { Models } from '../shared/models/index.js';

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
  /** Not buffered in Redis: not this user's, unknown, or stored in MongoDB only (stored-ack.ts). */
  missing: string[];
}

/**
 * A user acks notifications (one ACK frame): one script call in Redis, whatever the number of
 * ids (shared/buffer-ack.lua: ownership, pending set, acked mark, unpersisted check, 'acked' and
 * 'sent' timeline stages), then at most one broker message for jobs, which marks the stored
 * copies delivered. Redis first, because it is what stops redelivery; a failed publish rejects
 * so the client retries, and a retried ACK of an already-acked id is published again (jobs
 * applies acks idempotently), so no ack is lost between the two. Redis and RabbitMQ only: ids
 * Redis does not buffer are left to stored-ack.ts, which asks MongoDB after this answer.
 *
 * Not published: acks of notifications jobs has not stored yet (the script saw their
 * `unpersisted` mark after setting the acked mark). jobs clears that mark after its insert and
 * only then re-reads the acked marks, so it will store these as delivered; at the default
 * PERSIST_DELAY_MS that is nearly every ack, and then the frame costs no broker message at all
 * (docs/persistence.md).
 *
 * `sentAtMs` is when this instance first sent each id (Delivery.firstSentAtMs): the script
 * records it as the 'sent' stage, so a notification never acked has no 'sent' stage.
 */
export async function acknowledge(
  deps: AckDeps,
  userId: string,
  ids: string[],
  sentAtMs: (id: string) => number | undefined = () => undefined,
  nowMs = Date.now(),
): Promise<AckResult> {
  const acks = await ackInBuffer(deps.redis, userId, ids, deps.bufferTtlSeconds, nowMs, sentAtMs);
  const newlyAcked: string[] = [];
  const acked: string[] = [];
  const missing: string[] = [];
  const toPublish: string[] = [];
  for (const [id, ack] of acks) {
    if (ack.outcome === 'not-found') {
      missing.push(id);
      continue;
    }
    acked.push(id);
    if (ack.outcome === 'acked') newlyAcked.push(id);
    if (!ack.unpersisted) toPublish.push(id);
  }
  await publishAcks(deps, userId, toPublish, nowMs);
  return { acked, newlyAcked, missing };
}

/**
 * Which of `ids` (none of them buffered in Redis) MongoDB holds for this user: past the buffer's
 * TTL a notification lives only there (the replay catch-up sends those). One query, with
 * MongoDB's deadline; stored-ack.ts runs it among the background loads, off the frame path.
 */
export async function ownedInMongo(models: Models, userId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const docs = await models.Notification.find({ _id: { $in: ids }, userId }, { _id: 1 }).lean<Array<{ _id: string }>>();
  return docs.map((d) => d._id);
}

/**
 * Acks MongoDB-only notifications whose ownership ownedInMongo confirmed: their acked marks in
 * Redis, then one broker message for jobs. Redis and RabbitMQ only, like `acknowledge`.
 */
export async function acknowledgeStored(
  deps: AckDeps,
  userId: string,
  owned: string[],
  sentAtMs: (id: string) => number | undefined = () => undefined,
  nowMs = Date.now(),
): Promise<void> {
  await markStoredOnlyAcked(deps.redis, userId, owned, nowMs, deps.bufferTtlSeconds, sentAtMs);
  await publishAcks(deps, userId, owned, nowMs);
}

/** One AckBatchMessage for all of `ids` (none when there are none). */
async function publishAcks(deps: AckDeps, userId: string, ids: string[], nowMs: number): Promise<void> {
  if (ids.length === 0) return;
  const body = encodeAckBatch(userId, new Date(nowMs).toISOString(), ids);
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

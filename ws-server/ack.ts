import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Redis } from 'ioredis';
import { ackNotifications, unpersistedIds } from '../shared/buffer.js';
import { keys } from '../shared/keys.js';
import { encodeJson, JSON_CONTENT_TYPE, type AckMessage } from '../shared/messages.js';
import type { Models } from '../shared/models/index.js';
import { recordStage } from '../shared/timeline.js';

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
  /** Not buffered in Redis: not this user's, unknown, or stored in MongoDB only (acknowledgeStored). */
  missing: string[];
}

/**
 * A user acks notifications: marked acked in Redis atomically (ownership-checked), then each
 * ack is published for jobs, which marks the stored copy delivered. Redis first, because it is
 * what stops redelivery; a failed publish rejects so the client retries, and a retried ACK of
 * an already-acked id is published again (jobs applies acks idempotently), so no ack is lost
 * between the two. Redis and RabbitMQ only: ids Redis does not buffer are left to
 * acknowledgeStored, which asks MongoDB after this answer went out.
 *
 * Not published: acks of notifications jobs has not stored yet (their `unpersisted` mark is
 * still there after the acked mark was set). jobs clears that mark after its insert and only
 * then re-reads the acked marks, so it will store these as delivered; at the default
 * PERSIST_DELAY_MS that is nearly every ack, a broker message and a jobs batch entry saved per
 * notification (docs/persistence.md).
 */
export async function acknowledge(deps: AckDeps, userId: string, ids: string[], nowMs = Date.now()): Promise<AckResult> {
  const outcomes = await ackNotifications(deps.redis, userId, ids, deps.bufferTtlSeconds, nowMs);
  const newlyAcked = [...outcomes].filter(([, o]) => o === 'acked').map(([id]) => id);
  const alreadyAcked = [...outcomes].filter(([, o]) => o === 'already-acked').map(([id]) => id);
  const missing = [...outcomes].filter(([, o]) => o === 'not-found').map(([id]) => id);
  const acked = [...newlyAcked, ...alreadyAcked];
  const leftToPersist = await unpersistedIds(deps.redis, acked);
  await publishAcks(deps, userId, acked.filter((id) => !leftToPersist.has(id)), nowMs);
  await recordAcked(deps, acked, nowMs);
  return { acked, newlyAcked, missing };
}

/**
 * Acks of ids Redis does not buffer: past the buffer's TTL a notification lives only in MongoDB
 * (the replay catch-up sends those). Ownership is checked there, with MongoDB's deadline; this
 * runs after the Redis part was answered, so a slow MongoDB delays only these ids.
 */
export async function acknowledgeStored(
  deps: AckDeps,
  userId: string,
  ids: string[],
  nowMs = Date.now(),
): Promise<{ acked: string[]; notFound: string[] }> {
  const storedOnly = await ownedInMongo(deps.models, userId, ids);
  await markStoredOnlyAcked(deps.redis, storedOnly, nowMs, deps.bufferTtlSeconds);
  await publishAcks(deps, userId, storedOnly, nowMs);
  await recordAcked(deps, storedOnly, nowMs);
  const stored = new Set(storedOnly);
  return { acked: storedOnly, notFound: ids.filter((id) => !stored.has(id)) };
}

async function publishAcks(deps: AckDeps, userId: string, ids: string[], nowMs: number): Promise<void> {
  const ackedAt = new Date(nowMs).toISOString();
  await Promise.all(
    ids.map((notificationId) => {
      const message: AckMessage = { notificationId, userId, ackedAt };
      return deps.publisher.sendToQueue(deps.acksQueue, encodeJson(message), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }),
  );
}

function recordAcked(deps: AckDeps, ids: string[], nowMs: number): Promise<unknown> {
  return Promise.all(ids.map((id) => recordStage(deps.redis, id, 'acked', deps.bufferTtlSeconds, nowMs)));
}

async function ownedInMongo(models: Models, userId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const docs = await models.Notification.find({ _id: { $in: ids }, userId }, { _id: 1 }).lean<Array<{ _id: string }>>();
  return docs.map((d) => d._id);
}

/*
 * The acked mark is what replay and redelivery consult, so a MongoDB-only notification acked
 * here is not replayed again before jobs has marked it delivered. NX keeps the first ack time.
 */
async function markStoredOnlyAcked(redis: Redis, ids: string[], nowMs: number, ttlSeconds: number): Promise<void> {
  if (ids.length === 0) return;
  const tx = redis.multi();
  for (const id of ids) tx.set(keys.acked(id), String(nowMs), 'EX', ttlSeconds, 'NX');
  await tx.exec();
}

import { randomUUID } from 'node:crypto';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { Cluster } from 'ioredis';
import type { Topology } from '../shared/amqp/topology.js';
import { errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import { JSON_CONTENT_TYPE } from '../shared/messages.js';
import { encodePersistBatch, PERSIST_BATCH_MAX_BYTES } from '../shared/persist-batch.js';
import type { Redis } from '../shared/redis.js';
import type { JobsMetrics } from './metrics.js';

/**
 * The persist sweep: a notification whose persist job never arrived is handed to jobs again.
 *
 * Every buffered version carries an `unpersisted` mark from the consumer's commit until jobs has
 * stored it (the mark is set with the buffer's TTL, so its age is that TTL minus what is left of
 * it). The hand-off is one broker message per consumer flush, acked at the consumer only once the
 * broker confirmed it, and it normally reaches MongoDB within PERSIST_DELAY_MS. A mark older than
 * PERSIST_SWEEP_AFTER_MS means that message is gone: a classic delay queue dead-letters
 * at-most-once (docs/reliability.md), a queue was purged by hand, or a fault nobody has named yet.
 * Without the sweep such a notification stays deliverable from Redis and is never stored; with it
 * the buffered copy (the truth, docs/pipeline.md) goes straight to the persist queue, and jobs'
 * insert by `_id` makes a copy whose job was only late harmless.
 *
 * The scan reads every key of the keyspace (SCAN with MATCH filters on the server, COUNT keys a
 * call), so its cost grows with what Redis holds: about a millisecond of Redis per thousand keys,
 * once per PERSIST_SWEEP_INTERVAL_MS. It runs in one jobs instance at a time (a lock in Redis),
 * only while MongoDB is reachable (else every job is late and waits on the retry ladder, where it
 * belongs), and hands over at most SWEEP_MAX_NOTIFICATIONS per run. A mark it handed over gets the
 * buffer's TTL again, so it is not handed over again before PERSIST_SWEEP_AFTER_MS has passed once
 * more; a mark whose buffered copy is gone (expired, or Redis lost it) can never be stored and is
 * deleted, and counted.
 */

/** Notifications handed over per run at most: a backlog is worked off over several runs. */
export const SWEEP_MAX_NOTIFICATIONS = 5000;
const SCAN_COUNT = 1000;

export interface SweepSettings {
  /** REDIS_KEY_PREFIX: SCAN patterns and the keys it returns carry it, unlike every other command's keys. */
  keyPrefix: string;
  bufferTtlSeconds: number;
  /** A mark older than this has lost its persist job (PERSIST_SWEEP_AFTER_MS). */
  afterMs: number;
  /** Notifications per persist message at most (PERSIST_BATCH_SIZE: what jobs writes together). */
  maxNotificationsPerMessage: number;
}

export interface SweepDeps {
  redis: Redis;
  channel: ChannelWrapper;
  topology: Topology;
  metrics: JobsMetrics;
  logger: Logger;
  settings: SweepSettings;
}

export interface SweepResult {
  /** Marks seen by the scan. */
  marks: number;
  /** Notifications sent to the persist queue again. */
  handedOver: number;
  /** Marks whose buffered copy was gone: deleted, nothing to store. */
  expired: number;
}

/** `unpersisted:{u:<userId>}:<id>` (unprefixed) → its user and notification id; undefined for anything else. */
export function parseUnpersistedKey(key: string): { userId: string; id: string } | undefined {
  const head = 'unpersisted:{u:';
  const last = key.lastIndexOf(':');
  if (!key.startsWith(head) || last < head.length + 1 || key[last - 1] !== '}') return undefined;
  const userId = key.slice(head.length, last - 1);
  const id = key.slice(last + 1);
  if (userId === '' || id === '') return undefined;
  return keys.unpersisted(userId, id) === key ? { userId, id } : undefined;
}

/** Every `unpersisted` mark on every master, unprefixed, up to `limit` of them. */
async function scanMarks(redis: Redis, keyPrefix: string, limit: number): Promise<string[]> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const pattern = `${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}unpersisted:*`;
  const found: string[] = [];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, batch] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const k of batch) found.push(k.slice(keyPrefix.length));
      if (found.length >= limit) return found;
    } while (cursor !== '0');
  }
  return found;
}

/** One run: finds the marks older than `afterMs`, hands their buffered copies to jobs again. */
export async function sweepOnce(deps: SweepDeps): Promise<SweepResult> {
  const { redis, settings } = deps;
  // Scan a multiple of what may be handed over: most marks are young (their job is in the delay queue).
  const marks = (await scanMarks(redis, settings.keyPrefix, SWEEP_MAX_NOTIFICATIONS * 20)).flatMap((key) => {
    const parsed = parseUnpersistedKey(key);
    return parsed ? [{ key, ...parsed }] : [];
  });
  const ttlMs = settings.bufferTtlSeconds * 1000;
  // Sent in one tick each: auto-pipelining makes every step one round trip per node.
  const left = await Promise.all(marks.map((m) => redis.pttl(m.key)));
  const stale = marks
    .filter((_, i) => left[i]! >= 0 && ttlMs - left[i]! > settings.afterMs)
    .slice(0, SWEEP_MAX_NOTIFICATIONS);
  const bodies = await Promise.all(stale.map((m) => redis.get(keys.notification(m.userId, m.id))));

  const gone = stale.filter((_, i) => bodies[i] === null);
  const found = stale.flatMap((m, i) => (bodies[i] === null ? [] : [{ ...m, json: bodies[i]! }]));
  await Promise.all(gone.map((m) => redis.del(m.key)));

  // One persist message per flush-sized group, each confirmed before its marks are renewed.
  let handedOver = 0;
  let group: typeof found = [];
  let bytes = 0;
  const send = async () => {
    if (group.length === 0) return;
    const sending = group;
    group = [];
    bytes = 0;
    await deps.channel.sendToQueue(deps.topology.persistQueue, encodePersistBatch(sending.map((n) => n.json)), {
      persistent: true,
      messageId: randomUUID(),
      contentType: JSON_CONTENT_TYPE,
    });
    // PEXPIRE leaves a mark jobs deleted meanwhile (the job was only late) deleted.
    await Promise.all(sending.map((n) => redis.pexpire(n.key, ttlMs)));
    handedOver += sending.length;
  };
  for (const n of found) {
    const size = Buffer.byteLength(n.json) + 1;
    if (group.length >= settings.maxNotificationsPerMessage || bytes + size > PERSIST_BATCH_MAX_BYTES) await send();
    group.push(n);
    bytes += size;
  }
  await send();

  deps.metrics.swept.inc({ outcome: 'handed_over' }, handedOver);
  deps.metrics.swept.inc({ outcome: 'expired' }, gone.length);
  if (handedOver > 0 || gone.length > 0)
    deps.logger.warn(
      {
        handedOver,
        expired: gone.length,
        notificationIds: firstIds(stale.map((m) => m.id)),
      },
      'persist sweep: notifications whose persist job never arrived were handed to jobs again',
    );
  return { marks: marks.length, handedOver, expired: gone.length };
}

export interface PersistSweep {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `sweepOnce` every `intervalMs` in the one jobs instance that holds the lock (a key that
 * lives one interval), while `mongoReady()` says MongoDB is reachable. A failed run is logged and
 * tried again at the next interval: the marks stay where they are.
 */
export function startPersistSweep(deps: SweepDeps, intervalMs: number, mongoReady: () => boolean): PersistSweep {
  const instance = randomUUID();
  let running: Promise<void> | undefined;
  const run = async () => {
    if (!mongoReady()) return;
    const held = await deps.redis.set(keys.persistSweepLock(), instance, 'PX', intervalMs, 'NX');
    if (held !== 'OK') return;
    await sweepOnce(deps);
  };
  const timer = setInterval(() => {
    if (running) return;
    running = run()
      .catch((err: unknown) =>
        deps.logger.warn({ err: errorMessage(err) }, 'persist sweep failed; trying again next interval'),
      )
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

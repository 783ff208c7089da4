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
import type { Notification } from '../shared/notification.js';
import { LuaScript } from '../shared/lua.js';
import { parseUnpersistedMark, unpersistedMark } from '../shared/unpersisted-mark.js';
import { notificationProblems } from './job-body.js';
import type { JobsMetrics } from './metrics.js';

/**
 * The persist sweep: a notification whose persist job never arrived is handed to jobs again.
 *
 * Every buffered version carries an `unpersisted` mark from the consumer's commit until jobs has
 * stored it; its value is the commit's time and the version (shared/unpersisted-mark.ts; a mark
 * written before that held '1', and its age is then the buffer TTL minus what is left of it).
 * The hand-off is one broker message per consumer flush, acked at the consumer only once the
 * broker confirmed it, and it normally
 * reaches MongoDB within PERSIST_DELAY_MS. A mark older than PERSIST_SWEEP_AFTER_MS means that
 * message is gone: a classic delay queue dead-letters at-most-once (docs/reliability.md), a queue
 * was purged by hand, or a fault nobody has named yet. Without the sweep such a notification
 * stays deliverable from Redis and is never stored; with it the buffered copy (the truth,
 * docs/pipeline.md) goes straight to the persist queue, and jobs' insert by `_id` makes a copy
 * whose job was only late harmless.
 *
 * How a run goes: SCAN pages (MATCH filters on the server; each page visits SCAN_COUNT keys) are
 * handled one at a time, so a run holds one page of marks, never the keyspace; the cursor is kept
 * between runs, so a run cut short (SWEEP_MAX_NOTIFICATIONS handed over, SWEEP_MAX_PAGES read, or
 * stop()) is resumed where it ended, and every mark is reached in turn. A run ends at the end of
 * a full pass over every master. Its cost is the scan, about a millisecond of Redis per thousand
 * keys visited. One jobs instance sweeps at a time (a lock in Redis that lives a little less than
 * the interval), and only while MongoDB is reachable (else every job is late and waits on the
 * retry ladder, where it belongs). A mark it handed over gets the current time and the version
 * handed over as its value (if it is still the mark the run read: jobs/sweep-touch.lua), so it is
 * not handed over again before another PERSIST_SWEEP_AFTER_MS. A mark whose buffered copy
 * is gone (expired, or Redis lost it) or can never be stored (not a valid notification) is
 * deleted and counted.
 */

const SWEEP_TOUCH = LuaScript.fromFile(new URL('./sweep-touch.lua', import.meta.url));

/** Notifications handed over per run at most: a backlog is worked off over several runs. */
export const SWEEP_MAX_NOTIFICATIONS = 5000;
/** SCAN pages per run at most (a million keys visited): the rest of the pass is the next run's. */
export const SWEEP_MAX_PAGES = 1000;
const SCAN_COUNT = 1000;
/** A mark's value below this is not a time (the '1' of marks written before it held one). */
const EPOCH_MS_FLOOR = 1e12;

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
  /** Marks the run read. */
  marks: number;
  /** Notifications sent to the persist queue again. */
  handedOver: number;
  /** Marks whose buffered copy was gone: deleted, nothing to store. */
  expired: number;
  /** Marks whose buffered copy is not a notification jobs can store: deleted. */
  invalid: number;
  /** The run reached the end of a full pass over every master. */
  passDone: boolean;
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

/**
 * A mark's age: from its value (the commit's epoch ms), or for a mark written before it held one,
 * the buffer TTL minus its PTTL. undefined when it cannot be told (gone, or no expiry).
 */
export function markAgeMs(value: string | null, pttlMs: number, bufferTtlSeconds: number, nowMs: number) {
  if (value === null || pttlMs === -2) return undefined;
  const at = parseUnpersistedMark(value).atMs;
  if (at !== undefined && at >= EPOCH_MS_FLOOR) return Math.max(0, nowMs - at);
  return pttlMs >= 0 ? bufferTtlSeconds * 1000 - pttlMs : undefined;
}

interface Mark {
  key: string;
  userId: string;
  id: string;
}

/** A stale mark as this run read it. */
interface ReadMark extends Mark {
  value: string;
}

/** A run's bounds; tests shrink them. */
export interface SweepBounds {
  maxNotifications: number;
  maxPages: number;
  scanCount: number;
}

const DEFAULT_BOUNDS: SweepBounds = {
  maxNotifications: SWEEP_MAX_NOTIFICATIONS,
  maxPages: SWEEP_MAX_PAGES,
  scanCount: SCAN_COUNT,
};

export class PersistSweeper {
  private node = 0;
  private cursor = '0';
  private stopping = false;

  constructor(
    private readonly deps: SweepDeps,
    private readonly bounds: SweepBounds = DEFAULT_BOUNDS,
  ) {}

  /** Makes a run in progress end after its current page. */
  stop(): void {
    this.stopping = true;
  }

  /** One run: the stale marks of the next pages, up to the end of the pass or a bound. */
  async run(): Promise<SweepResult> {
    const { redis, settings } = this.deps;
    const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
    const pattern = `${settings.keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}unpersisted:*`;
    const result: SweepResult = { marks: 0, handedOver: 0, expired: 0, invalid: 0, passDone: false };
    const { maxNotifications, maxPages, scanCount } = this.bounds;
    for (let pages = 0; pages < maxPages && !this.stopping; pages++) {
      if (result.handedOver >= maxNotifications) break;
      // A cluster may have fewer masters than when the cursor was taken: start that pass again.
      if (this.node >= servers.length) [this.node, this.cursor] = [0, '0'];
      const [next, page] = await servers[this.node]!.scan(this.cursor, 'MATCH', pattern, 'COUNT', scanCount);
      const marks = page.flatMap((prefixed) => {
        const key = prefixed.slice(settings.keyPrefix.length);
        const parsed = parseUnpersistedKey(key);
        return parsed ? [{ key, ...parsed }] : [];
      });
      result.marks += marks.length;
      await this.handlePage(marks, maxNotifications - result.handedOver, result);
      this.cursor = next;
      if (next === '0') {
        this.node += 1;
        if (this.node >= servers.length) {
          [this.node, this.cursor] = [0, '0'];
          result.passDone = true;
          break;
        }
      }
    }
    const { metrics } = this.deps;
    metrics.swept.inc({ outcome: 'handed_over' }, result.handedOver);
    metrics.swept.inc({ outcome: 'expired' }, result.expired);
    metrics.swept.inc({ outcome: 'invalid' }, result.invalid);
    return result;
  }

  /** The stale marks of one page: their copies handed over (at most `room`), or the marks deleted. */
  private async handlePage(marks: Mark[], room: number, result: SweepResult): Promise<void> {
    if (marks.length === 0) return;
    const { redis, settings, logger } = this.deps;
    // Sent in one tick each: auto-pipelining makes every step one round trip per node.
    const [values, pttls] = await Promise.all([
      Promise.all(marks.map((m) => redis.get(m.key))),
      Promise.all(marks.map((m) => redis.pttl(m.key))),
    ]);
    const now = Date.now();
    const stale: ReadMark[] = marks
      .flatMap((m, i) => {
        const value = values[i];
        if (value === null || value === undefined) return [];
        return (markAgeMs(value, pttls[i]!, settings.bufferTtlSeconds, now) ?? 0) > settings.afterMs
          ? [{ ...m, value }]
          : [];
      })
      .slice(0, room);
    if (stale.length === 0) return;
    const bodies = await Promise.all(stale.map((m) => redis.get(keys.notification(m.userId, m.id))));

    const gone: Mark[] = [];
    const invalid: Mark[] = [];
    const found: Array<ReadMark & { json: string; version: number }> = [];
    stale.forEach((m, i) => {
      const json = bodies[i];
      if (json === null || json === undefined) {
        gone.push(m);
        return;
      }
      // jobs' own check (jobs/job-body.ts): a copy jobs would dead-letter would come back every
      // PERSIST_SWEEP_AFTER_MS until it expired, each time one more dead letter.
      const n = storable(json, m);
      if (!n) invalid.push(m);
      else found.push({ ...m, json, version: n.version });
    });
    await Promise.all([...gone, ...invalid].map((m) => redis.del(m.key)));
    result.expired += gone.length;
    result.invalid += invalid.length;

    let handedOver = 0;
    for (const group of groups(found, settings.maxNotificationsPerMessage)) {
      await this.deps.channel.sendToQueue(
        this.deps.topology.persistQueue,
        encodePersistBatch(group.map((n) => n.json)),
        { persistent: true, messageId: randomUUID(), contentType: JSON_CONTENT_TYPE },
      );
      // Only a mark still as read (jobs/sweep-touch.lua): one jobs deleted meanwhile stays deleted,
      // and a newer commit's is left as that commit wrote it.
      const at = Date.now();
      await SWEEP_TOUCH.runMany(
        redis,
        group.map((n) => ({ keys: [n.key], args: [n.value, unpersistedMark(at, n.version)] })),
      );
      handedOver += group.length;
    }
    result.handedOver += handedOver;
    if (handedOver > 0 || gone.length > 0 || invalid.length > 0)
      logger.warn(
        {
          handedOver,
          expired: gone.length,
          invalid: invalid.length,
          notificationIds: firstIds(stale.map((m) => m.id)),
        },
        'persist sweep: notifications whose persist job never arrived were handed to jobs again',
      );
  }
}

/** `json` as the notification its mark names, if jobs would store it; else undefined. */
function storable(json: string, mark: Mark): Notification | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (notificationProblems(value).length > 0) return undefined;
  const n = value as Notification;
  return n.id === mark.id && n.userId === mark.userId ? n : undefined;
}

/** Persist messages of at most `max` notifications and PERSIST_BATCH_MAX_BYTES each. */
function groups<T extends { json: string }>(items: T[], max: number): T[][] {
  const out: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(item.json) + 1;
    if (group.length > 0 && (group.length >= max || bytes + size > PERSIST_BATCH_MAX_BYTES)) {
      out.push(group);
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += size;
  }
  if (group.length > 0) out.push(group);
  return out;
}

export interface PersistSweep {
  /** Stops the timer, ends a run in progress after its current page and waits for it. */
  stop(): Promise<void>;
}

/** The lock lives a little less than the interval, so the holder's next tick finds it free. */
export function lockTtlMs(intervalMs: number): number {
  return Math.max(1, intervalMs - Math.min(1000, Math.floor(intervalMs / 10)));
}

/**
 * Runs the sweeper every `intervalMs` in the one jobs instance that holds the lock, while
 * `mongoReady()` says MongoDB is reachable. A failed run is logged and tried again at the next
 * interval: the marks stay where they are.
 */
export function startPersistSweep(deps: SweepDeps, intervalMs: number, mongoReady: () => boolean): PersistSweep {
  const instance = randomUUID();
  const sweeper = new PersistSweeper(deps);
  let running: Promise<void> | undefined;
  const run = async () => {
    if (!mongoReady()) return;
    const held = await deps.redis.set(keys.persistSweepLock(), instance, 'PX', lockTtlMs(intervalMs), 'NX');
    if (held !== 'OK') return;
    await sweeper.run();
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
      sweeper.stop();
      await running;
    },
  };
}

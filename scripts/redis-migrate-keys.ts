import { parseArgs } from 'node:util';
import { Cluster, Redis as RedisServer } from 'ioredis';
import { loadConfig } from '../shared/config.js';
import { keys } from '../shared/keys.js';
import { createLogger } from '../shared/logger.js';
import { closeRedis, connectRedis, type Redis } from '../shared/redis.js';

/**
 * Copies what Redis holds under the key names from before the hash tags (issue #17: `notif:<id>`,
 * `inbox:<userId>`, ...) to the names shared/keys.ts uses now (`notif:{u:<userId>}:<id>`, ...),
 * so an upgrade keeps every user's seq counter and unread version (clients compare both with
 * what they saw), their pending notifications, acks, read marks, stored counters and preferences.
 * docs/operations.md "Upgrading Redis keys" says when to run it.
 *
 *   npx tsx scripts/redis-migrate-keys.ts [--from redis://old-host:6379] [--delete-old]
 *
 * The target is the Redis the services are configured with (REDIS_URL or REDIS_CLUSTER_NODES,
 * REDIS_KEY_PREFIX); `--from` names the server holding the old names when it is another one (moving
 * to a cluster), else they are read from the target itself. Each key is copied with DUMP/RESTORE
 * (its type and TTL kept) and never over a key that already has the new name (a service wrote it
 * since); with `--from`, the keys whose names did not change are copied as they are too.
 * `--delete-old` deletes each old key once copied (or once found superseded).
 *
 * Not copied, on purpose: windows of a minute or less (rate limits, aggregation windows, action
 * dedupe, read-in-progress marks), the replay-clean marks (a missing mark only means "ask MongoDB
 * once"), and the marks of notifications whose buffered copy is gone (their user is unknown here;
 * MongoDB holds those notifications, and jobs stores acks from its queue).
 */

export interface MigrationReport {
  copied: number;
  /** The new name existed already: a service wrote it after the upgrade. */
  superseded: number;
  /** Old names this tool does not carry over (see above), and marks of notifications it cannot place. */
  skipped: number;
}

/** The user's own keys: old name prefix → new name. */
const PER_USER: Array<[string, (userId: string) => string]> = [
  ['seq:', keys.seq],
  ['inbox:', keys.inbox],
  ['stored:', keys.storedCount],
  ['unread:v:', keys.unreadVersion],
  ['prefs:', keys.preferences],
];
/** `unread:<user>` is the count, after `unread:v:` and `unread:busy:` are told apart. */
const UNREAD_COUNT = 'unread:';
/** A notification's marks: old name prefix → new name. */
const PER_NOTIFICATION: Array<[string, (userId: string, id: string) => string]> = [
  ['acked:', keys.acked],
  ['unpersisted:', keys.unpersisted],
  ['readmark:', keys.readBeforeStored],
  ['timeline:', keys.timeline],
];

async function* scan(server: RedisServer, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, found] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) yield found;
  } while (cursor !== '0');
}

export async function migrateKeys(
  source: RedisServer,
  target: Redis,
  prefix: string,
  /** `copyUnchanged`: the target is another server, so the keys whose names stay go over too. */
  options: { deleteOld?: boolean; copyUnchanged?: boolean } = {},
): Promise<MigrationReport> {
  const report: MigrationReport = { copied: 0, superseded: 0, skipped: 0 };
  const glob = prefix.replace(/[*?[\]\\]/g, '\\$&');
  const isNew = (name: string) => name.includes('{u:');

  /** Copies source key `from` (full name) to target key `to` (unprefixed: the target adds it). */
  const copy = async (from: string, to: string) => {
    const [dump, pttl] = await Promise.all([source.dumpBuffer(from), source.pttl(from)]);
    if (dump === null) return; // expired meanwhile
    try {
      await target.restore(to, pttl > 0 ? pttl : 0, dump);
      report.copied += 1;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('BUSYKEY')) throw err;
      report.superseded += 1;
    }
    if (options.deleteOld) await source.del(from);
  };

  // 1. The buffered notifications name their user: they place every key named by their id, and
  //    by their eventIds (the eventId dedupe marks and the events' timelines).
  const userOfId = new Map<string, string>();
  const userOfEvent = new Map<string, string>();
  for await (const batch of scan(source, `${glob}notif:*`)) {
    const names = batch.filter((k) => !isNew(k));
    if (names.length === 0) continue;
    const bodies = await source.mget(names);
    for (const [i, name] of names.entries()) {
      const id = name.slice(`${prefix}notif:`.length);
      const body = bodies[i];
      if (body === null || body === undefined) continue;
      const n = JSON.parse(body) as { userId: string; eventIds?: string[] };
      userOfId.set(id, n.userId);
      for (const eventId of n.eventIds ?? []) userOfEvent.set(eventId, n.userId);
      await copy(name, keys.notification(n.userId, id));
    }
  }

  // 2. Everything else, by its old name.
  for await (const batch of scan(source, `${glob}*`)) {
    for (const full of batch) {
      const name = full.slice(prefix.length);
      if (isNew(name) || name.startsWith('notif:')) continue;
      const perUser = PER_USER.find(([old]) => name.startsWith(old));
      if (perUser) {
        await copy(full, perUser[1](name.slice(perUser[0].length)));
        continue;
      }
      if (name.startsWith(UNREAD_COUNT) && !name.startsWith('unread:busy:')) {
        await copy(full, keys.unreadCount(name.slice(UNREAD_COUNT.length)));
        continue;
      }
      const perNotification = PER_NOTIFICATION.find(([old]) => name.startsWith(old));
      if (perNotification) {
        const id = name.slice(perNotification[0].length);
        // A timeline is a notification's or an event's.
        const userId = userOfId.get(id) ?? (perNotification[0] === 'timeline:' ? userOfEvent.get(id) : undefined);
        if (userId !== undefined) await copy(full, perNotification[1](userId, id));
        else report.skipped += 1;
        continue;
      }
      if (name.startsWith('dedupe:event:')) {
        const eventId = name.slice('dedupe:event:'.length);
        const userId = userOfEvent.get(eventId) ?? userOfId.get((await source.get(full)) ?? '');
        if (userId !== undefined) await copy(full, keys.eventSeen(userId, eventId));
        else report.skipped += 1;
        continue;
      }
      if (/^(agg|aggactors|aggnames|aggevents|replay-clean|unread:busy|rl:recipient|dedupe:action):/.test(name))
        report.skipped += 1;
      // Anything else kept its name (display names, idempotency, fan-out pages, the actor and HTTP
      // limits): on the same server it stays where it is, to another server it is copied as is.
      else if (options.copyUnchanged) await copy(full, name);
    }
  }
  return report;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { from: { type: 'string' }, 'delete-old': { type: 'boolean', default: false } },
  });
  const config = loadConfig();
  const logger = createLogger(config, 'redis-migrate-keys');
  // The target adds REDIS_KEY_PREFIX to the new names; the source is read unprefixed (SCAN returns full names).
  const target = await connectRedis(config, logger, 'migrate');
  if (!values.from && target instanceof Cluster) {
    throw new Error('a cluster holds no keys under the old names: pass --from <the old server>');
  }
  const source = values.from ? new RedisServer(values.from) : (target as RedisServer).duplicate({ keyPrefix: '' });
  try {
    const report = await migrateKeys(source, target, config.redis.keyPrefix, {
      deleteOld: values['delete-old'],
      copyUnchanged: values.from !== undefined,
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    source.disconnect();
    await closeRedis(target);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`redis-migrate-keys: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

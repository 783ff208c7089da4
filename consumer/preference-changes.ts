import { randomBytes } from 'node:crypto';
import { errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { openSubscriber, type Redis } from '../shared/redis.js';
import type { PreferenceCache } from './preference-cache.js';

/**
 * Keeps the consumer's PreferenceCache honest: listens on keys.preferencesChanged, where every
 * preferences write names its user, and drops that user's copy. The cache serves nothing while
 * this subscription is not known to be live: it starts suspended, is resumed (emptied) once the
 * SUBSCRIBE is answered, suspended again the moment the connection drops, and resumed after the
 * re-subscribe (ioredis reconnects for ever; on a Redis Cluster to the next node, where PUBLISH
 * reaches too).
 */
export interface PreferenceChanges {
  connectionName: string;
  close(): void;
}

export async function followPreferenceChanges(
  redis: Redis,
  keyPrefix: string,
  cache: PreferenceCache,
  logger: Logger,
): Promise<PreferenceChanges> {
  const channel = keys.preferencesChanged(keyPrefix);
  const connectionName = `consumer-prefs-${randomBytes(4).toString('hex')}`;
  const log = logger.child({ component: 'redis', connection: connectionName });
  // A subscribed connection can run nothing else, hence its own.
  const sub = openSubscriber(redis, connectionName);
  let closing = false;
  sub.on('error', (err) => log.debug({ err: errorMessage(err) }, 'preferences subscriber error'));
  sub.on('close', () => cache.suspend());
  sub.on('ready', () => {
    if (closing) return;
    // ioredis re-subscribes right after 'ready'; the answer to this SUBSCRIBE comes after that
    // one, so from here on every change is heard and the cache may serve again.
    sub.subscribe(channel).then(
      () => cache.resume(),
      (err: unknown) => log.warn({ err: errorMessage(err) }, 'preferences re-subscribe failed; the cache stays off'),
    );
  });
  sub.on('message', (_channel: string, userId: string) => cache.invalidate(userId));
  try {
    await sub.connect();
  } catch (err) {
    closing = true;
    sub.disconnect();
    throw err;
  }
  return {
    connectionName,
    close: () => {
      closing = true;
      cache.suspend();
      sub.disconnect();
    },
  };
}

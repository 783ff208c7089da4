import { randomBytes } from 'node:crypto';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import { subscribeOnOwnConnection } from '../shared/redis-subscription.js';
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
  const connectionName = `consumer-prefs-${randomBytes(4).toString('hex')}`;
  const subscription = await subscribeOnOwnConnection(
    redis,
    connectionName,
    [keys.preferencesChanged(keyPrefix)],
    {
      onMessage: (_channel, userId) => cache.invalidate(userId),
      onLost: () => cache.suspend(),
      onRestored: () => cache.resume(),
    },
    logger,
  );
  cache.resume();
  return {
    connectionName,
    close: () => {
      cache.suspend();
      subscription.close();
    },
  };
}

import { Redis } from 'ioredis';
import type { Config } from './config.js';
import { DependencyUnavailableError, errorMessage } from './errors.js';
import { withTimeout } from './lifecycle.js';
import type { Logger } from './logger.js';
import { describeUrl, stripCredentials } from './redact.js';

export type { Redis } from 'ioredis';

/**
 * Opens an ioredis client and waits until it is ready. Key names come from shared/keys.ts;
 * REDIS_KEY_PREFIX is applied by ioredis to every command's keys (tests and tenants share one
 * server that way). Reconnects forever after start-up; readiness reports `status !== 'ready'`.
 */
export async function connectRedis(
  config: Pick<Config, 'redis' | 'connectTimeoutMs'>,
  logger: Logger,
  name = 'main',
): Promise<Redis> {
  const target = describeUrl(config.redis.url);
  const log = logger.child({ component: 'redis', connection: name });
  let lastFailure = 'no answer yet';
  const redis = new Redis(config.redis.url, {
    lazyConnect: true,
    keyPrefix: config.redis.keyPrefix,
    connectionName: name,
    // Commands issued in the same tick by concurrent handlers (64+ events in flight) leave as
    // one pipeline: one write and one read syscall instead of one pair per command.
    enableAutoPipelining: true,
    connectTimeout: config.connectTimeoutMs,
    // Fail commands fast while disconnected so callers can nack and retry through the broker
    // instead of piling up an unbounded offline queue in memory.
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', (err) => {
    lastFailure = stripCredentials(errorMessage(err));
    log.debug({ target, err: lastFailure }, 'redis error');
  });
  redis.on('ready', () => log.info({ target }, 'redis ready'));
  redis.on('end', () => log.debug({ target }, 'redis connection ended'));

  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  redis.connect().catch(() => undefined);
  try {
    await withTimeout(
      ready,
      config.connectTimeoutMs,
      () =>
        new DependencyUnavailableError(
          `REDIS_URL: cannot reach Redis at ${target} within ${config.connectTimeoutMs} ms (${lastFailure})`,
        ),
    );
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return redis;
}

/** QUIT lets in-flight replies arrive; a dead connection is simply dropped. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await withTimeout(redis.quit(), 2000, () => new Error('redis quit timed out'));
  } catch {
    redis.disconnect();
  }
}

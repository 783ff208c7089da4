import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { stopLiveness } from './redis-liveness.js';
import { openSubscriber, type Redis, type RedisConnection } from './redis.js';

/**
 * A pub/sub subscription on a connection of its own (a subscribed connection can run nothing
 * else) that tells its owner when messages may have been missed. Pub/sub is at most once: what
 * is published while the connection is down is lost. So `onLost` is called when the connection
 * drops, and `onRestored` once the SUBSCRIBE sent after the reconnect is answered: ioredis
 * re-subscribes by itself right after 'ready', and the answer to this one comes after that, so
 * from then on every message is heard. It reconnects for ever (on a Redis Cluster to the next
 * node, shared/redis.ts openSubscriber). Resolves once the first SUBSCRIBE is answered.
 */
export interface SubscriptionHandlers {
  onMessage(channel: string, message: string): void;
  onLost?(): void;
  onRestored?(): void;
}

export interface OwnSubscription {
  /** The subscribed connection (its stream can be paused for back-pressure). */
  connection: RedisConnection;
  /** Its CLIENT SETNAME: tests find and kill it by name. */
  connectionName: string;
  /** Idempotent. Dropped, not QUIT: a subscriber has nothing to flush, and QUIT's answer would queue behind every message Redis still holds for it. */
  close(): void;
}

export async function subscribeOnOwnConnection(
  redis: Redis,
  connectionName: string,
  channels: string[],
  handlers: SubscriptionHandlers,
  logger: Logger,
): Promise<OwnSubscription> {
  const log = logger.child({ component: 'redis', connection: connectionName });
  const sub = openSubscriber(redis, connectionName);
  let closing = false;
  let dropped = false;
  sub.on('error', (err) => log.debug({ err: errorMessage(err) }, 'subscriber error'));
  sub.on('close', () => {
    if (closing || dropped) return;
    dropped = true;
    handlers.onLost?.();
  });
  sub.on('ready', () => {
    if (!dropped || closing) return;
    dropped = false;
    sub.subscribe(...channels).then(
      () => {
        if (!closing) handlers.onRestored?.();
      },
      (err: unknown) => log.warn({ err: errorMessage(err) }, 're-subscribe failed; the next reconnect tries again'),
    );
  });
  sub.on('message', (channel: string, message: string) => handlers.onMessage(channel, message));
  try {
    await sub.connect();
    await sub.subscribe(...channels);
  } catch (err) {
    closing = true;
    stopLiveness(sub);
    sub.disconnect();
    throw err;
  }
  return {
    connection: sub,
    connectionName,
    close: () => {
      closing = true;
      stopLiveness(sub);
      sub.disconnect();
    },
  };
}

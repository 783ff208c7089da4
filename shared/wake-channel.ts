import type { Redis } from './redis.js';
import { keys } from './keys.js';
import type { WakeExchangeMessage } from './messages.js';

/**
 * Publishes one wake on the Redis wake channel (keys.wakeChannel), which every ws-server
 * subscribes to (ws-server/wake.ts). `keyPrefix` is REDIS_KEY_PREFIX: ioredis does not prefix
 * channels, so the caller names the tenant. Resolves with how many subscribers received it (on a
 * Redis Cluster: how many on the node that took the PUBLISH, which forwards it to every other
 * node); pub/sub is at most once, and a wake nobody heard costs only latency (the buffer is the
 * truth).
 */
export async function publishWake(redis: Redis, keyPrefix: string, message: WakeExchangeMessage): Promise<number> {
  return redis.publish(keys.wakeChannel(keyPrefix), JSON.stringify(message));
}

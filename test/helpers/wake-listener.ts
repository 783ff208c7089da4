import type { Config } from '../../shared/config.js';
import { keys } from '../../shared/keys.js';
import { closeRedis, connectRedis, openSubscriber, type Redis, type RedisConnection } from '../../shared/redis.js';
import { newInstanceId, registerRoutes } from '../../ws-server/route.js';
import { testLogger } from './logger.js';

/**
 * Stands in for a ws-server instance on the wake routes (shared/wake-channel.ts): registers
 * users under an instance id of its own, exactly as a ws-server's AUTH and refresh do, and
 * records every wake published on that instance's channel.
 */
export class WakeListener {
  readonly heard: string[] = [];

  private constructor(
    readonly instanceId: string,
    readonly redis: Redis,
    private readonly subscriber: RedisConnection,
    private readonly ttlMs: number,
  ) {}

  static async start(config: Config, userIds: string[] = [], ttlMs = 10 * 60_000): Promise<WakeListener> {
    const instanceId = newInstanceId();
    const redis = await connectRedis(config, testLogger, 'wake-listener');
    // The ws-server's kind of subscriber: on a cluster a plain connection to one of its nodes.
    const subscriber = openSubscriber(redis, `wake-listener-${instanceId}`);
    const listener = new WakeListener(instanceId, redis, subscriber, ttlMs);
    subscriber.on('message', (_channel: string, raw: string) => listener.heard.push(raw));
    await subscriber.connect();
    await subscriber.subscribe(keys.wakeChannel(config.redis.keyPrefix, instanceId));
    await listener.register(...userIds);
    return listener;
  }

  /** What heard, parsed. */
  wakes<T = unknown>(): T[] {
    return this.heard.map((raw) => JSON.parse(raw) as T);
  }

  async register(...userIds: string[]): Promise<void> {
    if (userIds.length === 0) return;
    const results = await registerRoutes(this.redis, this.instanceId, userIds, this.ttlMs);
    const failed = results.find((r) => r instanceof Error);
    if (failed) throw failed;
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
    await closeRedis(this.redis);
  }
}

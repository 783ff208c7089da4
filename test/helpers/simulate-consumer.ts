import { v7 as uuidv7 } from 'uuid';
import { bufferNotification, nextSeq } from '../helpers/buffer.js';
import type { Config } from '../../shared/config.js';
import type { Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { readCachedUnread } from '../../shared/unread.js';
import { publishWake } from '../../shared/wake-channel.js';
import { testLogger } from './logger.js';

/**
 * Stands in for the consumer in ws-server tests: buffers a notification exactly as the
 * consumer does (shared/buffer.ts) and wakes the ws-servers through the real Redis wake channel.
 */
export class SimulatedConsumer {
  private constructor(
    readonly redis: Redis,
    private readonly config: Config,
  ) {}

  static async start(config: Config): Promise<SimulatedConsumer> {
    const redis = await connectRedis(config, testLogger, 'simulated-consumer');
    return new SimulatedConsumer(redis, config);
  }

  /** A notification for `userId` with the next seq; fields can be overridden. */
  async make(userId: string, overrides: Partial<Notification> = {}): Promise<Notification> {
    const id = overrides.id ?? uuidv7();
    return {
      id,
      userId,
      seq: await nextSeq(this.redis, userId),
      type: 'LIKE',
      priority: 5,
      actors: ['actor1'],
      actorCount: 1,
      objectId: 'post1',
      message: 'actor1 liked your post',
      createdAt: new Date().toISOString(),
      version: 1,
      eventIds: [`evt-${id}`],
      ...overrides,
    };
  }

  /** Buffers without waking: what a user who is offline (or whose wake was lost) finds on AUTH. */
  async buffer(n: Notification): Promise<Notification> {
    await bufferNotification(this.redis, n, this.config.pipeline.bufferTtlSeconds);
    return n;
  }

  /** An ids-only wake (as for do-not-disturb wakes that came due): the ws-server reads the buffer. */
  async wake(userId: string, notificationIds: string[]): Promise<number> {
    return publishWake(this.redis, this.config.redis.keyPrefix, { userId, notificationIds });
  }

  /** A push wake: the notification and the unread count after its commit, as the consumer sends them. */
  async push(n: Notification): Promise<number> {
    const unread = await readCachedUnread(this.redis, n.userId);
    return publishWake(this.redis, this.config.redis.keyPrefix, {
      kind: 'push',
      userId: n.userId,
      notification: n,
      ...(unread ? { unread } : {}),
    });
  }

  /** Buffer, then a push wake: the consumer's order, so what a woken ws-server pushes is in the buffer. */
  async deliver(n: Notification): Promise<Notification> {
    await this.buffer(n);
    await this.push(n);
    return n;
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}

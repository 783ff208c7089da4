import type { ChannelWrapper } from 'amqp-connection-manager';
import { v7 as uuidv7 } from 'uuid';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { bufferNotification, nextSeq } from '../../shared/buffer.js';
import type { Config } from '../../shared/config.js';
import { encodeJson, JSON_CONTENT_TYPE, type WakeMessage } from '../../shared/messages.js';
import type { Notification } from '../../shared/notification.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { testLogger } from './logger.js';

/**
 * Stands in for the consumer in ws-server tests: buffers a notification exactly as the
 * consumer does (shared/buffer.ts) and wakes the ws-servers through the real fanout exchange.
 */
export class SimulatedConsumer {
  private constructor(
    readonly redis: Redis,
    private readonly amqp: AmqpClient,
    private readonly channel: ChannelWrapper,
    private readonly config: Config,
  ) {}

  static async start(config: Config): Promise<SimulatedConsumer> {
    const redis = await connectRedis(config, testLogger, 'simulated-consumer');
    const amqp = await connectAmqp(config, testLogger);
    const channel = await amqp.createChannel('simulated-consumer');
    return new SimulatedConsumer(redis, amqp, channel, config);
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

  async wake(userId: string, notificationIds: string[]): Promise<void> {
    const body: WakeMessage = { userId, notificationIds };
    await this.channel.publish(this.amqp.topology.wakeExchange, '', encodeJson(body), { contentType: JSON_CONTENT_TYPE });
  }

  /** Buffer, then wake: the consumer's order, so a woken ws-server always finds it. */
  async deliver(n: Notification): Promise<Notification> {
    await this.buffer(n);
    await this.wake(n.userId, [n.id]);
    return n;
  }

  async close(): Promise<void> {
    await this.amqp.close();
    await closeRedis(this.redis);
  }
}

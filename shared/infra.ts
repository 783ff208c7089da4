import { connectAmqp, type AmqpClient } from './amqp/connection.js';
import type { Config } from './config.js';
import type { ReadinessCheck } from './http/ops.js';
import { startIndexBuild } from './index-build.js';
import { runAll } from './lifecycle.js';
import type { Logger } from './logger.js';
import { models, type Models } from './models/index.js';
import { closeMongo, connectMongo, isMongoReady, type Connection } from './mongo.js';
import { closeRedis, connectRedis, type Redis, type RedisClientOptions } from './redis.js';

/** The three stores every service talks to, connected together and closed together. */
export interface Infra {
  amqp: AmqpClient;
  redis: Redis;
  mongo: Connection;
  models: Models;
  checks: ReadinessCheck[];
  /**
   * Closes the broker first and the stores last, so in-flight work can still reach them; a hung
   * MongoDB cannot hold it (closeMongo).
   */
  close(): Promise<void>;
}

export interface InfraOptions {
  /**
   * Whether the service cannot do its main work without MongoDB (jobs): start-up waits for it and
   * fails after CONNECT_TIMEOUT_MS. Elsewhere MongoDB down only degrades what reads it: start-up
   * does not wait (the driver goes on connecting in the background), and /readyz stays 200 and
   * says "degraded" until it connects.
   */
  mongoRequired: boolean;
  /** The main Redis client's options: the producer's command deadline (shared/redis.ts). */
  redis?: RedisClientOptions;
}

/** jobs tries its index build again this long after MongoDB failed it (a failover, a network cut). */
const INDEX_BUILD_RETRY_MS = 10_000;

export async function connectInfra(
  config: Config,
  logger: Logger,
  options: InfraOptions = { mongoRequired: false },
): Promise<Infra> {
  const results = await Promise.allSettled([
    connectAmqp(config, logger),
    connectRedis(config, logger, 'main', options.redis),
    connectMongo(config, logger, { wait: options.mongoRequired }),
  ]);
  const [amqpResult, redisResult, mongoResult] = results;
  if (amqpResult.status === 'rejected' || redisResult.status === 'rejected' || mongoResult.status === 'rejected') {
    await runAll([
      () => (amqpResult.status === 'fulfilled' ? amqpResult.value.close() : undefined),
      () => (redisResult.status === 'fulfilled' ? closeRedis(redisResult.value) : undefined),
      () => (mongoResult.status === 'fulfilled' ? closeMongo(mongoResult.value, logger) : undefined),
    ]).catch(() => undefined);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map(String).join('; '));
  }
  const amqp = amqpResult.value;
  const redis = redisResult.value;
  const mongo = mongoResult.value;
  const m = models(mongo);
  // In the background for every service, jobs included (shared/index-build.ts): an index build
  // on a large collection takes minutes. Only jobs retries: the others' one attempt is a head
  // start on a fresh database, and jobs builds whatever it missed.
  const indexBuild = startIndexBuild(
    mongo,
    m,
    {
      createTimeoutMs: config.connectTimeoutMs,
      retryDelayMs: options.mongoRequired ? INDEX_BUILD_RETRY_MS : undefined,
    },
    logger,
  );
  return {
    amqp,
    redis,
    mongo,
    models: m,
    checks: [
      { name: 'rabbitmq', isReady: () => amqp.isConnected() },
      { name: 'redis', isReady: () => redis.status === 'ready' },
      { name: 'mongodb', isReady: () => isMongoReady(mongo), optional: !options.mongoRequired },
    ],
    close: () =>
      runAll([() => indexBuild.stop(), () => amqp.close(), () => closeRedis(redis), () => closeMongo(mongo, logger)]),
  };
}

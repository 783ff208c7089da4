import { connectAmqp, type AmqpClient } from './amqp/connection.js';
import type { Config } from './config.js';
import type { ReadinessCheck } from './http/ops.js';
import { errorMessage } from './errors.js';
import { runAll } from './lifecycle.js';
import { stripCredentials } from './redact.js';
import type { Logger } from './logger.js';
import { ensureIndexes, models, type Models } from './models/index.js';
import { closeMongo, connectMongo, isMongoReady, type Connection } from './mongo.js';
import { closeRedis, connectRedis, type Redis } from './redis.js';

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
   * Whether the service cannot do its main work without MongoDB (jobs). Elsewhere MongoDB down
   * only degrades what reads it, so /readyz stays 200 and says "degraded".
   */
  mongoRequired: boolean;
}

export async function connectInfra(
  config: Config,
  logger: Logger,
  options: InfraOptions = { mongoRequired: false },
): Promise<Infra> {
  const results = await Promise.allSettled([
    connectAmqp(config, logger),
    connectRedis(config, logger),
    connectMongo(config, logger),
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
  if (options.mongoRequired) {
    await ensureIndexes(m, config.connectTimeoutMs);
  } else {
    // Only jobs must have the collections and indexes before it works (it writes them). The
    // others read, which works on a missing collection, so a slow or busy MongoDB at start-up
    // (a restart during an incident) must not keep the live path from starting: they try once,
    // in the background, and jobs' own start-up creates whatever this attempt missed.
    ensureIndexes(m, config.connectTimeoutMs).catch((err: unknown) =>
      logger.warn(
        { err: stripCredentials(errorMessage(err)) },
        'mongodb indexes not ensured at start-up; jobs creates them',
      ),
    );
  }
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
    close: () => runAll([() => amqp.close(), () => closeRedis(redis), () => closeMongo(mongo, logger)]),
  };
}

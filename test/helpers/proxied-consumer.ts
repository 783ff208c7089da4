import amqplib from 'amqplib';
import { bootstrap as startConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { cleanupTestResources } from './cleanup.js';
import type { TestEnv } from './config.js';
import { testLogger } from './logger.js';
import { TcpProxy } from './tcp-proxy.js';

/** A consumer whose Redis is reached through a TCP proxy the test cuts and restores, and the test's own clients. */
export interface ProxiedConsumer {
  proxy: TcpProxy;
  consumer: ConsumerService;
  /** Straight to Redis, past the proxy. */
  redis: Redis;
  /** The test's own confirm channel. */
  ch: amqplib.ConfirmChannel;
  /** An event as the producer publishes it, to the social events queue; resolves once confirmed. */
  publish(body: unknown): Promise<void>;
  /** One sample of the consumer's /metrics (`name{label...}` or `name`), 0 when absent. */
  metric(name: string, label?: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Starts the consumer of `test` (its env and config, test/helpers/config.ts) with REDIS_URL on a
 * proxy in front of the single Redis server. A Redis Cluster's nodes announce their own addresses,
 * so callers skip on a cluster (its outage is test/cluster/redis-failover.test.ts's).
 */
export async function consumerBehindRedisProxy({ env, config }: TestEnv): Promise<ProxiedConsumer> {
  const topology = createTopology(config);
  const proxy = await new TcpProxy('127.0.0.1', Number(new URL(config.redis.url).port || 6379)).start();
  const consumer = await startConsumer(
    loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }),
    testLogger,
  );
  const redis = await connectRedis(config, testLogger, 'test');
  const conn = await amqplib.connect(config.rabbitmq.url);
  const ch = await conn.createConfirmChannel();
  return {
    proxy,
    consumer,
    redis,
    ch,
    publish: (body) =>
      new Promise<void>((resolve, reject) =>
        ch.sendToQueue(topology.eventsQueues.social, Buffer.from(JSON.stringify(body)), { persistent: true }, (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
    metric: async (name, label = '') => {
      const text = await (await fetch(`http://127.0.0.1:${consumer.port}/metrics`)).text();
      const line = text
        .split('\n')
        .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
      return line ? Number(line.split(' ').pop()) : 0;
    },
    close: async () => {
      await consumer.close();
      await closeRedis(redis);
      await conn.close();
      await proxy.close();
      await cleanupTestResources(config);
    },
  };
}

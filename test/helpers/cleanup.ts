import amqplib from 'amqplib';
import { Cluster } from 'ioredis';
import mongoose from 'mongoose';
import { allQueues, createTopology } from '../../shared/amqp/topology.js';
import type { Config } from '../../shared/config.js';
import { connectRedis } from '../../shared/redis.js';
import { testLogger } from './logger.js';

/** Removes everything a test file (or a bench run) created under its unique prefixes. */
export async function cleanupTestResources(config: Config): Promise<void> {
  await deleteQueuesAndKeys(config);
  await dropDatabase(config);
}

export async function deleteQueuesAndKeys(config: Config): Promise<void> {
  const topology = createTopology(config);
  const connection = await amqplib.connect(config.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    for (const queue of allQueues(topology)) await channel.deleteQueue(queue);
    await channel.close();
  } finally {
    await connection.close();
  }

  // Unprefixed: SCAN returns full key names. On a cluster every master holds some of the keys,
  // and one DEL may only name one slot, so each key is deleted on its own (pipelined per node).
  const redis = await connectRedis({ ...config, redis: { ...config.redis, keyPrefix: '' } }, testLogger, 'cleanup');
  try {
    for (const server of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        if (redis instanceof Cluster) await server.pipeline(keys.map((k) => ['del', k])).exec();
        else await server.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * Separate so the bench can skip it: FerretDB's former SQLite backend deleted a database's files
 * on drop, and an operation still running on them (a write abandoned by a process that was
 * killed) then crashed the whole server with SIGBUS. Observed once; see docs/performance.md. On
 * PostgreSQL a drop is a DROP SCHEMA under locks, but a bench against another store may still
 * want to skip it.
 */
export async function dropDatabase(config: Config): Promise<void> {
  const mongo = await mongoose.createConnection(config.mongo.url).asPromise();
  try {
    await mongo.dropDatabase();
  } finally {
    await mongo.close();
  }
}

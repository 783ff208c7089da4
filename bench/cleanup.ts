import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { allQueues, createTopology } from '../shared/amqp/topology.js';
import type { Config } from '../shared/config.js';

/**
 * Removes what one run created. Unlike the test helper, the database drop is separate and
 * optional: FerretDB's SQLite backend deletes the database's files on drop, and an operation
 * still running on them (a bulkWrite abandoned by a jobs process that timed out on shutdown)
 * then crashes the whole shared server with SIGBUS. Observed once; see docs/performance.md.
 */
export async function deleteQueuesAndKeys(config: Config): Promise<void> {
  const topology = createTopology(config);
  const connection = await amqplib.connect(config.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    for (const queue of allQueues(topology)) await channel.deleteQueue(queue);
    await channel.deleteExchange(topology.wakeExchange);
    await channel.close();
  } finally {
    await connection.close();
  }
  const redis = new Redis(config.redis.url);
  try {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${config.redis.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) await redis.del(...found);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function dropDatabase(config: Config): Promise<void> {
  const mongo = await mongoose.createConnection(config.mongo.url).asPromise();
  try {
    await mongo.dropDatabase();
  } finally {
    await mongo.close();
  }
}

import amqplib from 'amqplib';
import { createTopology } from '../../shared/amqp/topology.js';
import type { Config } from '../../shared/config.js';
import type { AckBatchMessage } from '../../shared/messages.js';

/** Drains the acks queue (jobs is not running in ws-server tests) and returns the bodies, one per broker message. */
export async function drainAcks(config: Config): Promise<AckBatchMessage[]> {
  const connection = await amqplib.connect(config.rabbitmq.url);
  try {
    const channel = await connection.createChannel();
    const out: AckBatchMessage[] = [];
    for (;;) {
      const msg = await channel.get(createTopology(config).acksQueue, { noAck: true });
      if (!msg) break;
      out.push(JSON.parse(msg.content.toString()) as AckBatchMessage);
    }
    await channel.close();
    return out;
  } finally {
    await connection.close();
  }
}

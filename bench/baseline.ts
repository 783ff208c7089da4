import amqplib from 'amqplib';

export interface BrokerBaseline {
  messages: number;
  bytesPerMessage: number;
  seconds: number;
  /** Confirmed publish + consume (ack) of persistent messages on one durable queue. */
  messagesPerSecond: number;
}

/** Publisher confirms outstanding at once: enough to keep the broker busy, not unbounded. */
const CONFIRM_WINDOW = 1000;

/**
 * The broker's own limit on this machine, measured in the same run: what one AMQP hop costs
 * with the durability the pipeline asks for (persistent messages, confirms, manual acks),
 * without any of the pipeline's work. The pipeline's throughput is reported as a ratio of it.
 */
export async function measureBrokerBaseline(
  url: string,
  queue: string,
  messages: number,
  bytesPerMessage: number,
): Promise<BrokerBaseline> {
  const connection = await amqplib.connect(url);
  try {
    const publisher = await connection.createConfirmChannel();
    const consumer = await connection.createChannel();
    await publisher.assertQueue(queue, { durable: true });
    await consumer.prefetch(1000);
    const body = Buffer.alloc(bytesPerMessage, 'x');

    const start = performance.now();
    let consumed = 0;
    const allConsumed = new Promise<void>((resolve) => {
      void consumer.consume(queue, (msg) => {
        if (!msg) return;
        consumer.ack(msg);
        if (++consumed === messages) resolve();
      });
    });

    let inFlight = 0;
    let nacked = 0;
    let release: (() => void) | undefined;
    for (let i = 0; i < messages; i++) {
      if (inFlight >= CONFIRM_WINDOW) await new Promise<void>((r) => (release = r));
      inFlight++;
      publisher.sendToQueue(queue, body, { persistent: true }, (err) => {
        if (err) nacked++;
        inFlight--;
        release?.();
        release = undefined;
      });
    }
    await publisher.waitForConfirms();
    if (nacked > 0) throw new Error(`the broker nacked ${nacked} baseline messages`);
    await allConsumed;
    const seconds = (performance.now() - start) / 1000;
    await publisher.deleteQueue(queue);
    return {
      messages,
      bytesPerMessage,
      seconds: Math.round(seconds * 1000) / 1000,
      messagesPerSecond: Math.round(messages / seconds),
    };
  } finally {
    await connection.close();
  }
}

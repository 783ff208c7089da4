import { eventsQueueList, type Topology } from '../../shared/amqp/topology.js';

interface QueueChecker {
  checkQueue(queue: string): Promise<{ messageCount: number }>;
}

/** Messages ready in the events queues together: the one classic priority queue, or the three per-category quorum queues. */
export async function eventsQueueDepth(channel: QueueChecker, topology: Topology): Promise<number> {
  let total = 0;
  for (const queue of eventsQueueList(topology)) total += (await channel.checkQueue(queue)).messageCount;
  return total;
}

/**
 * The order the consumer takes the events it was delivered in: the next batch is filled highest
 * priority first, oldest first within one priority, except that an event passed over by
 * MAX_PASSED_OVER batches goes first.
 *
 * Why here and not only in the broker: quorum queues on RabbitMQ 3.x have no message priority,
 * so on AMQP_QUEUE_TYPE=quorum each category has its own events queue and the broker delivers
 * from the three side by side, up to CONSUMER_PREFETCH each (shared/amqp/topology.ts). Ordering
 * what was delivered is what makes a SECURITY event overtake a backlog of promotions there: it
 * waits for the batch in progress at most, as on a classic priority queue it waits for what was
 * already prefetched. On classic the broker already delivers highest priority first, so this
 * changes little there.
 *
 * Why not strictly: a steady stream of higher-priority events would hold a delivered promotion
 * forever, and with it its prefetch slot, so the promotional queue would stop altogether. With
 * the bound, a delivered event is processed within MAX_PASSED_OVER + 1 batches whatever arrives
 * after it, so under a flood of transactional events the promotional queue still moves, by
 * about CONSUMER_PREFETCH events every MAX_PASSED_OVER batches. (A classic priority queue is
 * strict: there, promotions wait in the broker until the higher ones are gone.)
 */

/** Batches a delivered event may be passed over before it goes first. */
export const MAX_PASSED_OVER = 8;

interface Waiting<T> {
  item: T;
  /** The batch count when it arrived: batches taken since then passed it over. */
  arrivedAt: number;
}

export class PriorityOrder<T> {
  /** FIFO per priority; a priority's oldest is at the head. */
  private readonly buckets = new Map<number, Array<Waiting<T>>>();
  private batches = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(item: T, priority: number): void {
    let bucket = this.buckets.get(priority);
    if (!bucket) {
      bucket = [];
      this.buckets.set(priority, bucket);
    }
    bucket.push({ item, arrivedAt: this.batches });
    this.count++;
  }

  /** Removes and returns the next batch, at most `max` events. */
  take(max: number): T[] {
    const batch: T[] = [];
    // Overdue first, oldest first: each bucket's head is its oldest.
    for (;;) {
      if (batch.length >= max) break;
      let oldest: Array<Waiting<T>> | undefined;
      for (const bucket of this.buckets.values()) {
        const head = bucket[0];
        if (
          head &&
          this.batches - head.arrivedAt >= MAX_PASSED_OVER &&
          (!oldest || head.arrivedAt < oldest[0]!.arrivedAt)
        )
          oldest = bucket;
      }
      if (!oldest) break;
      batch.push(oldest.shift()!.item);
    }
    const byPriority = [...this.buckets.keys()].sort((a, b) => b - a);
    for (const priority of byPriority) {
      const bucket = this.buckets.get(priority)!;
      while (batch.length < max && bucket.length > 0) batch.push(bucket.shift()!.item);
      if (bucket.length === 0) this.buckets.delete(priority);
    }
    this.count -= batch.length;
    if (batch.length > 0) this.batches++;
    return batch;
  }
}

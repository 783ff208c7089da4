/**
 * Collects items and hands them over in batches: when the waiting items weigh `size` or more,
 * or `windowMs` after the first one arrived. An item's weight is what it carries (a persist
 * message: its notifications), so a batch is bounded by notifications, not by messages; an
 * item is never split, so a batch exceeds `size` by less than its last item's weight.
 * The window is only a batching delay, not a durability delay: the items are unacked AMQP
 * messages, so a process that dies while they wait loses nothing.
 * One flush runs at a time; items arriving meanwhile form the next batch.
 */
export class Batcher<T> {
  private pending: T[] = [];
  private pendingWeight = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly size: number,
    private readonly windowMs: number,
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly weigh: (item: T) => number = () => 1,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    this.pendingWeight += this.weigh(item);
    if (this.pendingWeight >= this.size) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.windowMs);
  }

  /** Drops items without flushing them (their channel is gone; the broker redelivers them). */
  discard(predicate: (item: T) => boolean): void {
    this.pending = this.pending.filter((item) => !predicate(item));
    this.pendingWeight = this.pending.reduce((sum, item) => sum + this.weigh(item), 0);
  }

  /** Flushes whatever is waiting and resolves when every flush so far has finished. */
  async drain(): Promise<void> {
    if (this.pending.length > 0) this.flushNow();
    await this.running;
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // `add` flushes as soon as the weight reaches `size`, so what waits is always one batch.
    const batch = this.pending;
    this.pending = [];
    this.pendingWeight = 0;
    if (batch.length === 0) return;
    // `flush` settles every item itself; a rejection must not stop the batches after it.
    this.running = this.running.then(() => this.flush(batch)).catch(() => undefined);
  }
}

/**
 * Collects items and hands them over in batches: when `size` items are waiting, or `windowMs`
 * after the first one arrived. The window is only a batching delay, not a durability delay:
 * the items are unacked AMQP messages, so a process that dies while they wait loses nothing.
 * One flush runs at a time; items arriving meanwhile form the next batch.
 */
export class Batcher<T> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly size: number,
    private readonly windowMs: number,
    private readonly flush: (items: T[]) => Promise<void>,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.size) this.flushNow();
    else this.timer ??= setTimeout(() => this.flushNow(), this.windowMs);
  }

  /** Drops items without flushing them (their channel is gone; the broker redelivers them). */
  discard(predicate: (item: T) => boolean): void {
    this.pending = this.pending.filter((item) => !predicate(item));
  }

  /** Flushes whatever is waiting and resolves when every flush so far has finished. */
  async drain(): Promise<void> {
    if (this.pending.length > 0) this.flushNow();
    await this.running;
  }

  private flushNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, this.size);
    if (batch.length === 0) return;
    // `flush` settles every item itself; a rejection must not stop the batches after it.
    this.running = this.running.then(() => this.flush(batch)).catch(() => undefined);
    // More than one batch may have piled up while a flush was running.
    if (this.pending.length > 0) this.timer = setTimeout(() => this.flushNow(), 0);
  }
}

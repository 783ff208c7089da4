import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/**
 * MongoDB work that the live path wants but must never wait on: rebuilding a Redis copy (a
 * user's unread count, preferences, a display name) or reading what only MongoDB holds (the
 * replay of notifications older than the buffer). Each load runs here, off the caller's path:
 *
 * - bounded: at most `concurrency` loads talk to MongoDB at once, at most `maxQueued` wait,
 *   so a slow or hung database costs a fixed number of pool connections, never the whole pool;
 *   past the queue a load is refused (`undefined`) and the caller goes on without it;
 * - shared: a second request for the same key while one is queued or running gets the same
 *   promise, so 100 sockets of one user or a burst of events for one actor cost one read;
 * - waited on briefly: `within(ms)` lets a caller take the answer if it comes fast (a healthy
 *   database answers these in milliseconds) and go on with its fallback otherwise; the load
 *   still finishes and fills Redis for the next caller.
 *
 * Each load carries its own deadline (the MongoDB operation timeout, shared/mongo.ts), so a
 * slot is never held forever. close() waits for nothing: the connection it used is closed last.
 */
export class BackgroundLoads {
  private running = 0;
  private readonly queue: Array<{ start: () => void; cancel: (err: Error) => void }> = [];
  private readonly byKey = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly concurrency = 8,
    private readonly maxQueued = 10_000,
  ) {}

  /** How many loads run or wait now (metrics, tests). */
  get size(): number {
    return this.running + this.queue.length;
  }

  /** Starts (or joins) the load for `key`; undefined when the queue is full or closed. */
  run<T>(key: string, load: () => Promise<T>): Promise<T> | undefined {
    const existing = this.byKey.get(key) as Promise<T> | undefined;
    if (existing) return existing;
    if (this.closed || this.queue.length >= this.maxQueued) return undefined;
    const promise = new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running += 1;
        // The slot and the key are freed before the caller hears the answer, so a caller that
        // reacts to it can start the next load at once, and a new call for the key reads afresh.
        const done = () => {
          this.running -= 1;
          this.byKey.delete(key);
          this.queue.shift()?.start();
        };
        // A load that throws before returning its promise must free its slot too.
        new Promise<T>((settle) => settle(load())).then(
          (value) => {
            done();
            resolve(value);
          },
          (err: unknown) => {
            done();
            reject(err);
          },
        );
      };
      if (this.running < this.concurrency) start();
      else
        this.queue.push({
          start,
          cancel: (err) => {
            this.byKey.delete(key);
            reject(err);
          },
        });
    });
    this.byKey.set(key, promise);
    // A caller that stopped waiting must not turn a failed load into an unhandled rejection.
    promise.catch((err: unknown) =>
      this.logger.debug({ err: errorMessage(err), key: key.split(':')[0] }, 'background load failed'),
    );
    return promise;
  }

  /**
   * Starts (or joins) the load and waits for it at most `waitMs`, and not at all when it had to
   * queue: behind `concurrency` running loads it cannot finish that soon, so a burst (a reconnect
   * storm of new users) answers at once instead of each caller sitting out the wait in vain.
   */
  async attempt<T>(key: string, load: () => Promise<T>, waitMs: number): Promise<Settled<T>> {
    const queued = !this.byKey.has(key) && this.running >= this.concurrency;
    const promise = this.run(key, load);
    return within(promise, queued ? 0 : waitMs);
  }

  /**
   * Refuses new loads; those running finish on their own deadline. One error for all the queued
   * ones: at shutdown after a reconnect storm thousands may wait, and a stack trace each is CPU
   * taken from the drain.
   */
  close(): void {
    this.closed = true;
    const closed = new Error('background loads closed');
    for (const waiting of this.queue.splice(0)) waiting.cancel(closed);
  }
}

export type Settled<T> = { done: true; value: T } | { done: false };

/**
 * The answer of `promise` if it settles successfully within `ms`, else `{ done: false }` (also
 * when it failed or is undefined: the caller's fallback is the same either way).
 */
export async function within<T>(promise: Promise<T> | undefined, ms: number): Promise<Settled<T>> {
  if (!promise) return { done: false };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  const settled = promise.then(
    (value): Settled<T> => ({ done: true, value }),
    (): Settled<T> => ({ done: false }),
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * When a socket-side rebuild that failed (MongoDB down or slow) is tried again: 1 s, doubling up
 * to 30 s. One schedule for the replay catch-up and the unread rebuild, so docs/protocol.md can
 * state it once. `attempt` counts from 0.
 */
export function retryDelayMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** attempt);
}

/**
 * Cleanup that is safe to call twice and from several places at once (SIGTERM racing a test's
 * teardown): the first call runs the steps, every call gets the same promise.
 */
export function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= close();
    return closing;
  };
}

/** Runs every step in order even if an earlier one fails, then reports the first failure. */
export async function runAll(steps: Array<() => Promise<unknown> | unknown>): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits for work in flight to settle, but at most `ms`: at shutdown a handler stuck on a
 * dependency must not hold the exit. Resolves false when the bound was hit.
 */
export async function settleWithin(work: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  return withTimeout(Promise.allSettled([...work]), ms, () => new Error('drain timed out')).then(
    () => true,
    () => false,
  );
}

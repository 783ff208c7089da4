/**
 * Runs `work` on every item (with its index), at most `limit` at a time. After a failure no new
 * item is started, and the ones running are waited for before the first error is thrown: a
 * caller that bounds its queries to spare a connection pool (jobs/cap.ts) must not go on while
 * some still hold connections.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (errors.length === 0 && next < items.length) {
      const index = next++;
      try {
        await work(items[index]!, index);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

import { getHeapStatistics } from 'node:v8';

/**
 * Preloaded into the ws-server by the connections scenario (NODE_OPTIONS, with --expose-gc):
 * on SIGUSR2 it runs a full GC twice, a second apart, and prints one JSON line with the heap
 * figures. Without the GC a memory delta counts whatever garbage the AUTH ramp left.
 *
 * RSS is left to the bench, which reads /proc itself: process.memoryUsage() opens
 * /proc/self/stat, and a ws-server at its file-descriptor limit has no descriptor to spare.
 */
const SETTLE_MS = 1000;

/** bench/ws-memory.ts finds the answer by this key. */
const PROBE_KEY = 'memoryProbe';

type Gc = () => void;

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: Gc }).gc;
  gc?.();
  setTimeout(() => {
    gc?.();
    const heap = getHeapStatistics();
    const sample = {
      heapUsed: heap.used_heap_size,
      heapTotal: heap.total_heap_size,
      external: heap.external_memory,
      gcForced: gc !== undefined,
    };
    process.stdout.write(`${JSON.stringify({ [PROBE_KEY]: sample })}\n`);
  }, SETTLE_MS);
});

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RunningService } from '../test/helpers/process.js';
import { eventually } from '../test/helpers/wait.js';

/** The key of the probe's line (bench/ws-memory-probe.ts). */
const PROBE_KEY = 'memoryProbe';

/** NODE_OPTIONS that load the probe into the ws-server (the connections scenario's stack). */
export const MEMORY_PROBE_NODE_OPTIONS = `--expose-gc --import=tsx --import=${pathToFileURL(resolve(import.meta.dirname, 'ws-memory-probe.ts')).href}`;

export interface MemorySample {
  /** Read from /proc by the bench right after the probe answered. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  gcForced: boolean;
}

function readRssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** Asks the ws-server's probe for its memory after a forced GC; resolves with the new sample. */
export async function sampleMemory(ws: RunningService): Promise<MemorySample> {
  const probeLines = () =>
    ws
      .output()
      .split('\n')
      .filter((l) => l.startsWith(`{"${PROBE_KEY}"`));
  const before = probeLines().length;
  ws.proc.kill('SIGUSR2');
  return eventually(
    () => {
      const lines = probeLines();
      const line = lines.length > before ? lines[lines.length - 1] : undefined;
      const sample = line ? (JSON.parse(line) as Record<string, Omit<MemorySample, 'rss'>>)[PROBE_KEY] : undefined;
      return sample && { ...sample, rss: readRssBytes(ws.proc.pid ?? 0) };
    },
    { what: 'the ws-server memory probe to answer', timeoutMs: 30_000 },
  ).catch((err: unknown) => {
    const exited =
      ws.proc.exitCode !== null || ws.proc.signalCode !== null
        ? ` (it exited: ${ws.proc.exitCode ?? ws.proc.signalCode})`
        : '';
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}${exited}; the end of its output:\n${ws.output().slice(-2000)}`,
    );
  });
}

import { request } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

/**
 * Redis work of a measured span, counted twice over:
 *
 * - requests: the commands the services sent, counted where they are sent, by a probe preloaded
 *   into each service (bench/redis-request-probe.mjs), so only the run's own traffic counts.
 *   Redis itself cannot tell them apart: measured on Redis 7.0, an EVAL whose script makes three
 *   redis.call adds 1 to `cmdstat_eval` and 1 to each called command's `cmdstat_*`, and 4 to
 *   `total_commands_processed`.
 * - commands: what Redis executed, from the deltas of INFO commandstats: requests plus every
 *   command a script called. These are the server's counts, so any other client of the same
 *   Redis during the span (a test run, another benchmark) is counted too; the INFO calls of the
 *   bench's own snapshots are subtracted.
 */

/** NODE_OPTIONS that load the request probe. */
export const REDIS_PROBE_NODE_OPTIONS = `--import=${pathToFileURL(join(import.meta.dirname, 'redis-request-probe.mjs')).href}`;

/** Calls per command in the text of INFO commandstats (`cmdstat_get:calls=12,usec=...`); subcommands as `client|setname`. */
export function parseCommandStats(info: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match?.[1]) out[match[1]] = Number(match[2]);
  }
  return out;
}

/** Per-name differences of two count maps (names absent before count from 0), zeros left out. */
export function countDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const delta = calls - (before[name] ?? 0);
    if (delta !== 0) out[name] = delta;
  }
  return out;
}

export const sumCounts = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** The `n` largest counts, largest first, as an object (JSON keeps that order). */
export function topCounts(counts: Record<string, number>, n: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n),
  );
}

/** `aof_rewrites` of INFO persistence (Redis 7.0 on); null where the server does not say. */
export function parseAofRewrites(info: string): number | null {
  const match = /^aof_rewrites:(\d+)/m.exec(info);
  return match ? Number(match[1]) : null;
}

export interface CommandStatsSnapshot {
  calls: Record<string, number>;
  /**
   * AOF rewrites the server has done so far. Each forks a child that writes the whole dataset
   * (other tenants' keys too) and compresses it: CPU the run's own writes bring about, counted
   * with Redis's (bench/process-stats.ts samples Redis as a process tree).
   */
  aofRewrites: number | null;
  /** INFO commands this reader had sent before this snapshot's own. */
  ownInfosBefore: number;
}

/**
 * Reads INFO commandstats (and persistence) over one connection of its own: no ready check, no
 * client name or library info, no key prefix, so each snapshot is exactly two INFO commands, which
 * the next snapshot subtracts (Redis counts a command after it ran: an INFO's output never includes
 * itself). The socket holds the process only while a snapshot waits for its answer: a scenario
 * that fails before closing the reader must not keep the harness (or a test file) alive.
 */
export class CommandStatsReader {
  private readonly redis: Redis;
  private infosSent = 0;

  constructor(url: string) {
    this.redis = new Redis(url, {
      enableReadyCheck: false,
      disableClientInfo: true,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
    this.redis.on('error', () => undefined);
  }

  async snapshot(): Promise<CommandStatsSnapshot> {
    if (this.redis.status === 'wait') await this.redis.connect();
    // Two INFO commands per snapshot (one section each: Redis before 7.0 takes only one), the
    // commandstats one first, so it never counts its own snapshot's; the next snapshot counts both.
    const ownInfosBefore = this.infosSent;
    this.infosSent += 2;
    this.redis.stream.ref();
    try {
      const calls = parseCommandStats(await this.redis.info('commandstats'));
      return { calls, aofRewrites: parseAofRewrites(await this.redis.info('persistence')), ownInfosBefore };
    } finally {
      this.redis.stream.unref();
    }
  }

  /** What Redis executed between two snapshots, without this reader's INFO commands. */
  static delta(before: CommandStatsSnapshot, after: CommandStatsSnapshot): Record<string, number> {
    const delta = countDelta(before.calls, after.calls);
    const own = after.ownInfosBefore - before.ownInfosBefore;
    if (own > 0) {
      const info = (delta.info ?? 0) - own;
      if (info > 0) delta.info = info;
      else delete delta.info;
    }
    return delta;
  }

  close(): void {
    this.redis.disconnect();
  }
}

/** The commands one service's probe has counted so far (bench/redis-request-probe.mjs). */
export function readRequestProbe(socketPath: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, number>);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`redis request probe at ${socketPath}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

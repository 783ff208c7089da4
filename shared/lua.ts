import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from './redis.js';

/**
 * A Lua script sent by its SHA1 (EVALSHA), so its text crosses the socket once per Redis
 * process instead of on every call: the buffer commit alone runs once per notification, and
 * sending its text each time was the consumer's largest CPU cost (docs/performance.md).
 * After a Redis restart the script cache is empty: NOSCRIPT means nothing ran, so the call is
 * repeated once with the text (EVAL), which also caches it again.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * A script kept in its own `.lua` file next to the module that runs it (`new URL('./x.lua',
   * import.meta.url)`), whose header names its KEYS and ARGV; `--#include NAME` lines are replaced by
   * `includes[NAME]`. Read once, when the module loads;
   * `npm run build` copies the `.lua` files into dist/ beside the compiled modules.
   */
  static fromFile(url: URL, includes: Record<string, string> = {}): LuaScript {
    // `--#include NAME` lines take a fragment another module owns (its rule stays in one place).
    const source = readFileSync(url, 'utf8').replace(/^--#include (\w+)$/gm, (line, name: string) => {
      const fragment = includes[name];
      if (fragment === undefined) throw new Error(`${url.pathname}: no fragment for ${line}`);
      return fragment;
    });
    return new LuaScript(source);
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Many calls in one pipeline (one write, one round trip; on a cluster one per node): each call's
   * result or its own error, in order. A call answered NOSCRIPT (Redis restarted) did not run, so
   * only those are sent again, once, with the text; the others already ran and must not run twice.
   */
  async runMany(redis: Redis, calls: Array<{ keys: string[]; args: Array<string | number> }>): Promise<unknown[]> {
    if (calls.length === 0) return [];
    if (redis.isCluster) {
      // One pipeline may only go to one node: the calls go out together instead, and
      // auto-pipelining makes them one pipeline per node (each call names one slot's keys).
      return Promise.all(
        calls.map((c) =>
          this.run(redis, c.keys, c.args).catch((err: unknown) =>
            err instanceof Error ? err : new Error(String(err)),
          ),
        ),
      );
    }
    const bySha = redis.pipeline();
    for (const c of calls) bySha.evalsha(this.sha, c.keys.length, ...c.keys, ...c.args);
    const results: unknown[] = ((await bySha.exec()) ?? []).map(([err, value]) => err ?? value);
    const missing = calls.flatMap((_, i) => {
      const r = results[i];
      return r instanceof Error && r.message.startsWith('NOSCRIPT') ? [i] : [];
    });
    if (missing.length > 0) {
      const byText = redis.pipeline();
      for (const i of missing) byText.eval(this.source, calls[i]!.keys.length, ...calls[i]!.keys, ...calls[i]!.args);
      const again = (await byText.exec()) ?? [];
      missing.forEach((i, k) => {
        const [err, value] = again[k] ?? [new Error('redis: no reply for a script call'), undefined];
        results[i] = err ?? value;
      });
    }
    return calls.map((_, i) => (i < results.length ? results[i] : new Error('redis: no reply for a script call')));
  }
}

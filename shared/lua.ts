import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

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

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

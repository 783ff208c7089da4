import type { Request, RequestHandler } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { REDIS_FAIL_OPEN_WAIT_MS, type Config } from '../shared/config.js';
import { keys } from '../shared/keys.js';
import { withTimeout } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import { clientKey } from './client-address.js';
import { failOpen } from './fail-open.js';
import { RateLimitedError } from './http-errors.js';
import type { ProducerMetrics } from './metrics.js';

export interface RateLimitDeps {
  redis: Redis;
  logger: Logger;
  metrics: ProducerMetrics;
  /**
   * A request that carries a valid intake API key is not counted: its caller is the operator's own
   * backend sending at volume, and the consumer already limits what each actor causes and each
   * recipient receives. Counting it would cost a Redis round trip per event on the hot path.
   */
  isTrustedCaller(req: Request): boolean;
}

/**
 * Requests per client address and minute, counted in Redis so every producer instance shares
 * one count (one Redis round trip a request: rate-limiter-flexible's INCR+PTTL script). Past
 * HTTP_RATE_LIMIT_PER_MINUTE the answer is 429
 * with Retry-After, the seconds until the window ends. Mounted after the ops routes, which are
 * never counted, nor is a request with a valid intake API key (so event intake by the operator's
 * backends costs no Redis round trip; an intake attempt without one is counted). The address is Express's `req.ip`: behind a proxy TRUST_PROXY must name the
 * hops, or every client shares the proxy's address and budget.
 *
 * Fails open (producer/fail-open.ts): while Redis is down or slow the request goes on unchecked,
 * so a Redis outage never takes the read API down with it.
 */
export function rateLimit(config: Pick<Config, 'http'>, deps: RateLimitDeps): RequestHandler {
  const limiter = new RateLimiterRedis({
    storeClient: deps.redis,
    keyPrefix: keys.rateLimitHttp(),
    points: config.http.rateLimit.perMinute,
    duration: 60,
    // Otherwise ioredis would queue the command while reconnecting instead of failing at once.
    rejectIfRedisNotReady: true,
  });
  const unchecked = failOpen(
    deps.logger,
    deps.metrics.rateLimitUnchecked,
    'rate limit not checked: Redis unavailable; letting requests through',
  );

  return (req, _res, next) => {
    if (deps.isTrustedCaller(req)) return next();
    const counted = withTimeout(
      limiter.consume(clientKey(req.ip)),
      REDIS_FAIL_OPEN_WAIT_MS,
      () => new Error(`no answer within ${REDIS_FAIL_OPEN_WAIT_MS} ms`),
    );
    counted.then(
      () => next(),
      (err: unknown) => {
        if (err instanceof RateLimiterRes) {
          next(new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
          return;
        }
        unchecked(err);
        next();
      },
    );
  };
}

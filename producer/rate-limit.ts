import type { RequestHandler } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../shared/config.js';
import { errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import { withTimeout } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from '../shared/redis.js';
import { clientKey } from './client-address.js';
import { RateLimitedError } from './http-errors.js';
import type { ProducerMetrics } from './metrics.js';

/** The event intake, counted in its own, higher budget: its callers are backends sending at volume. */
const INTAKE_ROUTES = new Set(['/events', '/events/batch', '/like']);
/** Longest a request waits for its count; past it the request goes on unchecked. */
const REDIS_WAIT_MS = 250;
/** At most one warning this often while Redis cannot count. */
const WARN_INTERVAL_MS = 10_000;

export interface RateLimitDeps {
  redis: Redis;
  logger: Logger;
  metrics: ProducerMetrics;
}

/**
 * Requests per client address and minute, counted in Redis so every producer instance shares
 * one count (one Redis round trip a request: rate-limiter-flexible's INCR+PTTL script). Past
 * HTTP_RATE_LIMIT_PER_MINUTE (the intake: HTTP_INTAKE_RATE_LIMIT_PER_MINUTE) the answer is 429
 * with Retry-After, the seconds until the window ends. Mounted after the ops routes, which are
 * never counted. The address is Express's `req.ip`: behind a proxy TRUST_PROXY must name the
 * hops, or every client shares the proxy's address and budget.
 *
 * Fails open: while Redis is down or slow the request goes on unchecked (a warning, a metric),
 * so a Redis outage never takes the read API down with it.
 */
export function rateLimit(config: Pick<Config, 'http'>, deps: RateLimitDeps): RequestHandler {
  const limiter = (bucket: 'api' | 'intake', perMinute: number) =>
    new RateLimiterRedis({
      storeClient: deps.redis,
      keyPrefix: keys.rateLimitHttp(bucket),
      points: perMinute,
      duration: 60,
      // Otherwise ioredis would queue the command while reconnecting instead of failing at once.
      rejectIfRedisNotReady: true,
    });
  const api = limiter('api', config.http.rateLimit.perMinute);
  const intake = limiter('intake', config.http.rateLimit.intakePerMinute);
  let lastWarnMs = 0;

  return (req, _res, next) => {
    const chosen = req.method === 'POST' && INTAKE_ROUTES.has(req.path) ? intake : api;
    const counted = withTimeout(chosen.consume(clientKey(req.ip)), REDIS_WAIT_MS, () => new Error(`no answer within ${REDIS_WAIT_MS} ms`));
    counted.then(
      () => next(),
      (err: unknown) => {
        if (err instanceof RateLimiterRes) {
          next(new RateLimitedError(Math.max(1, Math.ceil(err.msBeforeNext / 1000))));
          return;
        }
        deps.metrics.rateLimitUnchecked.inc();
        if (Date.now() - lastWarnMs >= WARN_INTERVAL_MS) {
          lastWarnMs = Date.now();
          deps.logger.warn({ err: errorMessage(err) }, 'rate limit not checked: Redis unavailable; letting requests through');
        }
        next();
      },
    );
  };
}

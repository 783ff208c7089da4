import type { Counter } from 'prom-client';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** At most one warning this often while Redis cannot answer a check. */
const WARN_INTERVAL_MS = 10_000;

/**
 * The producer's rule for a check it makes in Redis but does not let Redis hold requests on (the
 * per-address rate limit, producer/rate-limit.ts; the Idempotency-Key, producer/idempotency.ts):
 * when Redis is down or does not answer within REDIS_FAIL_OPEN_WAIT_MS, the request goes on
 * unchecked, counted in `unchecked`, and a warning with the error only (never the key, the
 * address or the event) is logged at most every WARN_INTERVAL_MS: an outage is one line, not one
 * per request. Returns what to call with each such failure.
 */
export function failOpen(logger: Logger, unchecked: Counter, message: string): (err: unknown) => void {
  let lastWarnMs = 0;
  return (err) => {
    unchecked.inc();
    if (Date.now() - lastWarnMs < WARN_INTERVAL_MS) return;
    lastWarnMs = Date.now();
    logger.warn({ err: errorMessage(err) }, message);
  };
}

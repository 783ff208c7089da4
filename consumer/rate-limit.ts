import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { keys } from '../shared/keys.js';
import { categoryOf } from '../shared/priority.js';
import { isFanoutType } from '../shared/schemas/event.js';
import type { Redis } from '../shared/redis.js';
import type { LimitScope } from './metrics.js';
import type { ParsedEvent } from './parse-event.js';

/**
 * Per-actor and per-recipient limits (points per minute) on Redis, shared by every consumer
 * instance. Transactional events are never limited. A limited event is dropped on purpose —
 * a product decision against spam and notification floods, counted in metrics — not a loss.
 */
export interface RateLimits {
  actorPerMinute: number;
  recipientPerMinute: number;
}

export interface LimitHit {
  scope: LimitScope;
  key: string;
}

export interface RateLimiter {
  /** The limit that refused the event, or null when it may pass. Redis errors propagate. */
  check(event: ParsedEvent): Promise<LimitHit | null>;
}

export function createRateLimiter(redis: Redis, limits: RateLimits): RateLimiter {
  const actor = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: keys.rateLimitActor,
    points: limits.actorPerMinute,
    duration: 60,
  });
  const recipient = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: keys.rateLimitRecipient,
    points: limits.recipientPerMinute,
    duration: 60,
  });

  async function consume(limiter: RateLimiterRedis, scope: LimitScope, key: string): Promise<LimitHit | null> {
    try {
      await limiter.consume(key);
      return null;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return { scope, key };
      throw rejection;
    }
  }

  return {
    async check(event) {
      if (categoryOf(event.type) === 'transactional') return null;
      // The recipients of one fanned-out post are one action by the actor, not thousands.
      if (event.actorId !== undefined && !isFanoutType(event.type)) {
        const hit = await consume(actor, 'actor', event.actorId);
        if (hit) return hit;
      }
      return consume(recipient, 'recipient', event.targetId);
    },
  };
}

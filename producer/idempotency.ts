import { createHash } from 'node:crypto';
import { keys } from '../shared/keys.js';
import { withTimeout } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { LuaScript } from '../shared/lua.js';
import type { Redis } from '../shared/redis.js';
import type { ActivityEvent } from '../shared/schemas/event.js';
import { failOpen } from './fail-open.js';
import { IdempotencyKeyReusedError } from './http-errors.js';
import type { ProducerMetrics } from './metrics.js';

/**
 * The rule for an eventId a client chose (an Idempotency-Key, or a body eventId): the same
 * eventId with the same event is a retry, with another event a mistake. The consumer drops a
 * repeated eventId for its recipient (its eventId dedupe), so without this check a key reused for
 * a different event was answered 202 "accepted" and then silently dropped. So intake records the
 * first event's fingerprint under the eventId, for as long as the consumer's dedupe remembers
 * the eventId (EVENT_DEDUPE_WINDOW_SECONDS), and refuses a different event under it with a 422.
 *
 * An eventId the producer generates (a uuid v7) needs no check and gets none. The checks of one
 * event-loop turn (a backend sending its own eventIds at a thousand a second has several requests
 * in each) go to Redis in one script call (producer/idempotency.lua), one per key on a cluster: a
 * request per event would be a third of the pipeline's Redis requests (docs/performance.md).
 *
 * Fails open (producer/fail-open.ts, as the rate limiter does): when Redis does not answer within
 * the wait, the event is accepted unchecked (producer_idempotency_unchecked_total, a throttled
 * warning without values). A same-event retry is still counted once by the consumer; only a
 * different event under a reused key would go unnoticed while Redis is out.
 */
const CLAIM = LuaScript.fromFile(new URL('./idempotency.lua', import.meta.url));

/**
 * The event's identity apart from its eventId: a SHA-256 of its JSON with the keys sorted, so the
 * order a client writes its fields in does not matter. Taken from the validated event (trimmed
 * text, upper-case currency), so a retry that differs only in what validation normalizes is the
 * same event.
 */
export function fingerprintOf(event: ActivityEvent): string {
  const { eventId: _eventId, ...rest } = event;
  return createHash('sha256').update(canonicalJson(rest)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface IdempotencyCheck {
  /**
   * Resolves when `eventId` is new or was first used for this same event; throws
   * IdempotencyKeyReusedError when it was used for a different one. Call it only for an eventId
   * the client chose.
   */
  check(eventId: string, event: ActivityEvent): Promise<void>;
}

export interface IdempotencyCheckOptions {
  /** EVENT_DEDUPE_WINDOW_SECONDS: how long the consumer drops a repeated eventId. */
  windowSeconds: number;
  /** The longest intake waits for Redis before accepting unchecked (REDIS_FAIL_OPEN_WAIT_MS). */
  waitMs: number;
  logger: Logger;
  metrics: ProducerMetrics;
}

/** One check waiting for the turn's call. */
interface PendingCheck {
  key: string;
  fingerprint: string;
  settle: (before: unknown) => void;
  fail: (err: unknown) => void;
}

export function idempotencyCheck(redis: Redis, options: IdempotencyCheckOptions): IdempotencyCheck {
  const unchecked = failOpen(
    options.logger,
    options.metrics.idempotencyUnchecked,
    'Idempotency-Key not checked: Redis unavailable; accepting events unchecked',
  );
  let pending: PendingCheck[] = [];

  const send = (group: PendingCheck[]) =>
    withTimeout(
      CLAIM.run(
        redis,
        group.map((c) => c.key),
        [...group.map((c) => c.fingerprint), options.windowSeconds],
      ),
      options.waitMs,
      () => new Error(`no answer within ${options.waitMs} ms`),
    ).then(
      (answers) => group.forEach((c, i) => c.settle(Array.isArray(answers) ? answers[i] : undefined)),
      (err: unknown) => group.forEach((c) => c.fail(err)),
    );

  const flush = () => {
    const turn = pending;
    pending = [];
    // A cluster routes a call by its keys' slot, and these keys are untagged: one call each.
    for (const group of redis.isCluster ? turn.map((c) => [c]) : [turn]) void send(group);
  };

  return {
    async check(eventId, event) {
      const fingerprint = fingerprintOf(event);
      let before: unknown;
      try {
        before = await new Promise<unknown>((settle, fail) => {
          pending.push({ key: keys.idempotency(eventId), fingerprint, settle, fail });
          if (pending.length === 1) setImmediate(flush);
        });
      } catch (err) {
        unchecked(err);
        return;
      }
      if (typeof before === 'string' && before !== fingerprint) throw new IdempotencyKeyReusedError();
    },
  };
}

import { setTimeout as sleep } from 'node:timers/promises';

/** One event the driver posted, and what it is expected to become. */
export interface PostedEvent {
  eventId: string;
  targetId: string;
  /** Unique per event, so a notification frame (which carries objectId) names its event. */
  objectId: string;
  attempts: number;
}

export interface LoadResult {
  accepted: PostedEvent[];
  /** Answers other than 202/503/network errors: a bad request from the driver, or a 5xx bug. */
  unexpected: string[];
  /** POSTs that were retried with the same Idempotency-Key (no 202 on the first attempt). */
  retried: number;
  /** 503 answers, and how many of them came without a Retry-After header (must be none). */
  unavailable: number;
  withoutRetryAfter: number;
}

interface LoadOptions {
  runId: string;
  count: number;
  ratePerSecond: number;
  users: string[];
  producerUrl(): string | undefined;
  /** Give up on one event after this long without a 202 (the scenario then fails: not accepted). */
  perEventDeadlineMs: number;
}

/**
 * Social events (LIKE on a post nobody else likes: never action-deduped) and transactional ones
 * (ORDER, PAYMENT: never rate-limited), so every accepted event must become exactly one
 * notification; actor and target always differ (no self-notifications).
 */
function eventFor(n: number, options: LoadOptions): { body: Record<string, unknown>; posted: PostedEvent } {
  const { users, runId } = options;
  const target = users[Math.floor(Math.random() * users.length)]!;
  let actor = users[Math.floor(Math.random() * users.length)]!;
  if (actor === target) actor = users[(users.indexOf(target) + 1) % users.length]!;
  const eventId = `ev.${runId}.${n}`;
  const objectId = `obj.${runId}.${n}`;
  const kind = n % 3;
  const body =
    kind === 0
      ? { type: 'LIKE', actorId: actor, targetId: target, postId: objectId, eventId }
      : kind === 1
        ? { type: 'ORDER', targetId: target, orderId: objectId, text: 'has shipped', eventId }
        : { type: 'PAYMENT', targetId: target, paymentId: objectId, amount: 12.5, currency: 'EUR', eventId };
  return { body, posted: { eventId, targetId: target, objectId, attempts: 0 } };
}

type Outcome = 'accepted' | 'retry' | '503' | '503-no-retry-after' | string;

async function postOnce(url: string | undefined, body: Record<string, unknown>): Promise<Outcome> {
  if (!url) return 'retry';
  try {
    const res = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': String(body.eventId) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status === 202) return 'accepted';
    if (res.status === 503) return res.headers.get('retry-after') ? '503' : '503-no-retry-after';
    return `HTTP ${res.status}: ${text.slice(0, 200)}`;
  } catch {
    // Connection refused/reset, or no answer: the 202 never came, so retry with the same key.
    return 'retry';
  }
}

/** Posts `count` events at a steady rate; each is retried with its Idempotency-Key until a 202. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { accepted: [], unexpected: [], retried: 0, unavailable: 0, withoutRetryAfter: 0 };
  const inFlight: Promise<void>[] = [];
  const interval = 1000 / options.ratePerSecond;
  const started = Date.now();
  for (let n = 0; n < options.count; n++) {
    const wait = started + n * interval - Date.now();
    if (wait > 0) await sleep(wait);
    const { body, posted } = eventFor(n, options);
    inFlight.push(
      (async () => {
        const deadline = Date.now() + options.perEventDeadlineMs;
        for (;;) {
          posted.attempts++;
          const outcome = await postOnce(options.producerUrl(), body);
          if (outcome === 'accepted') {
            result.accepted.push(posted);
            if (posted.attempts > 1) result.retried++;
            return;
          }
          if (outcome.startsWith('503')) result.unavailable++;
          if (outcome === '503-no-retry-after') result.withoutRetryAfter++;
          if (outcome !== 'retry' && !outcome.startsWith('503')) {
            result.unexpected.push(`${posted.eventId}: ${outcome}`);
            return;
          }
          if (Date.now() > deadline) {
            result.unexpected.push(`${posted.eventId}: no 202 within ${options.perEventDeadlineMs} ms`);
            return;
          }
          await sleep(250);
        }
      })(),
    );
  }
  await Promise.all(inFlight);
  return result;
}

import type { Redis } from '../shared/redis.js';
import { retryDelayMs, type BackgroundLoads } from '../shared/background.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Models } from '../shared/models/index.js';
import type { Delivery } from './delivery.js';
import type { WsMetrics } from './metrics.js';
import { catchUpFromStore, type HoldRule, type Replay } from './replay.js';
import type { Session } from './session.js';

export interface CatchUpDeps {
  redis: Redis;
  models: Models;
  bufferTtlSeconds: number;
  replayLimit: number;
  loads: BackgroundLoads;
  delivery: Delivery;
  metrics: WsMetrics;
  logger: Logger;
}

let nextCatchUpId = 0;

/**
 * The MongoDB half of a socket's replay, after AUTH_OK: runs among the bounded background loads
 * (a reconnect storm of new users queues here instead of filling MongoDB's pool), pushes what it
 * finds, then sends REPLAY_DONE. When MongoDB is down or slow it tries again while the socket is
 * open, with backoff; the timer is in-process on purpose, like redelivery (delivery.ts): if this
 * process dies, the client's next AUTH starts a new catch-up, and MongoDB keeps the notifications.
 */
export function startCatchUp(
  deps: CatchUpDeps,
  session: Session,
  userId: string,
  lastSeq: number | undefined,
  replay: Replay,
  heldBack: HoldRule,
): void {
  const key = `replay:${userId}:${(nextCatchUpId += 1)}`;
  const stores = { redis: deps.redis, models: deps.models, bufferTtlSeconds: deps.bufferTtlSeconds };
  let attempt = 0;
  const run = (): void => {
    session.catchUpTimer = undefined;
    if (!session.open) return;
    const job = deps.loads.run(key, () =>
      catchUpFromStore(stores, userId, deps.replayLimit, lastSeq, replay, heldBack),
    );
    if (!job) {
      retry(new Error('too many MongoDB reads waiting'));
      return;
    }
    job.then((result) => {
      deps.metrics.catchUps.inc({ outcome: 'done' });
      deps.delivery.push(session, result.notifications);
      session.send({ type: 'REPLAY_DONE', pending: result.pending, recovered: result.recovered, seq: result.seq });
    }, retry);
  };
  const retry = (err: unknown): void => {
    deps.metrics.catchUps.inc({ outcome: 'retry' });
    if (!session.open) return;
    const delayMs = retryDelayMs(attempt);
    attempt += 1;
    deps.logger.warn(
      { err: errorMessage(err), userId, attempt, delayMs },
      'replay catch-up from MongoDB failed; trying again',
    );
    session.catchUpTimer = setTimeout(run, delayMs);
    session.catchUpTimer.unref();
  };
  run();
}

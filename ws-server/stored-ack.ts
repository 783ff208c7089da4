import type { BackgroundLoads } from '../shared/background.js';
import { errorMessage } from '../shared/errors.js';
import { firstIds } from '../shared/log-ids.js';
import type { Logger } from '../shared/logger.js';
import { acknowledgeStored, ownedInMongo, type AckDeps } from './ack.js';
import type { Delivery } from './delivery.js';
import type { WsMetrics } from './metrics.js';
import { ERROR_CODES, errorFrame } from './protocol.js';
import type { Session } from './session.js';

export interface StoredAckDeps {
  ack: AckDeps;
  loads: BackgroundLoads;
  delivery: Delivery;
  metrics: WsMetrics;
  logger: Logger;
  /** Keeps shutdown waiting for the Redis write and broker confirm that follow MongoDB's answer. */
  track<T>(work: Promise<T>): Promise<T>;
}

/**
 * The MongoDB half of an ACK frame: the ids Redis does not buffer (MongoDB-only notifications the
 * replay catch-up sent, or ids that are not the user's). Started once the frame's Redis part was
 * answered, and not awaited by it: the frame gives back its slot in the frame window
 * (frame-window.ts) at once. Awaited there, a MongoDB that answers only at its deadline held one
 * of the instance's 500 slots per such ACK, and 500 of them held every AUTH and ACK of the
 * instance. Here the query waits among the bounded background loads (shared/background.ts)
 * instead, like the catch-up that sent these notifications.
 *
 * When MongoDB answers, the owned ids are acked (Redis, then the broker: ack.ts) and answered in a
 * second ACKED, the others with NOT_FOUND. If the socket closed meanwhile (the client left, or
 * shutdown), nothing is written: the client never saw the ACKED, and the catch-up of its next
 * AUTH sends the ids again. A check refused (too many loads waiting) or failed is UNAVAILABLE with
 * the ids, for the client to ACK them again.
 */
export function acknowledgeStoredOffPath(
  deps: StoredAckDeps,
  session: Session,
  userId: string,
  ids: string[],
  sentAtMs: (id: string) => number | undefined,
  nowMs = Date.now(),
): void {
  const unavailable = (err: unknown) => {
    // Nobody to tell (a shutdown cancels thousands of queued checks at once: no line each).
    if (!session.open) return;
    deps.logger.warn(
      { err: errorMessage(err), userId, notificationIds: firstIds(ids) },
      'ack of stored notifications failed',
    );
    session.send(errorFrame(ERROR_CODES.unavailable, 'could not check these ids now, ACK them again', ids));
  };
  // Keyed by the ids: the same ACK frame again (a retry, another device) shares the one query.
  const check = deps.loads.run(`ack:${userId}:${ids.join(',')}`, () => ownedInMongo(deps.ack.models, userId, ids));
  if (!check) {
    unavailable(new Error('too many MongoDB reads waiting'));
    return;
  }
  check
    .then(async (owned) => {
      if (!session.open) return;
      await deps.track(acknowledgeStored(deps.ack, userId, owned, sentAtMs, nowMs));
      deps.delivery.acked(userId, owned);
      deps.metrics.acked.inc(owned.length);
      if (owned.length > 0) session.send({ type: 'ACKED', ids: owned });
      const stored = new Set(owned);
      const notFound = ids.filter((id) => !stored.has(id));
      if (notFound.length > 0) {
        session.send(errorFrame(ERROR_CODES.notFound, 'no pending notification of yours with these ids', notFound));
      }
    })
    .catch(unavailable);
}

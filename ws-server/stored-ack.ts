import { createHash } from 'node:crypto';
import type { BackgroundLoads } from '../shared/background.js';
import { errorMessage } from '../shared/errors.js';
import { firstIds } from '../shared/log-ids.js';
import type { Logger } from '../shared/logger.js';
import type { AckDetails } from '../shared/buffer.js';
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
 * MongoDB checks (with the writes that follow them) one socket may have waiting or running; an
 * ACK frame past it is answered UNAVAILABLE with its ids at once, for the client to ACK them
 * again. Without it one user's ACK frames of ids Redis does not know each queued a check among
 * the instance's background loads (10,000 of them, each holding up to WS_MAX_ACK_BATCH ids):
 * 10 sockets sending 500 random ids 40 times a second grew the instance by a gigabyte in 15 s
 * and starved every other user's unread counts, preferences and catch-ups behind them. An honest
 * client rarely meets it: the project's client batches its ACKs (one frame per delay of at most
 * WS_MAX_ACK_BATCH ids, client/acks.ts), a healthy MongoDB answers a check in milliseconds, and
 * an id refused is sent again with the next batch, as after any UNAVAILABLE.
 *
 * Per socket, not per user: a user holds at most WS_MAX_SOCKETS_PER_USER sockets on an
 * instance, so at most 2 × 10 = 20 checks (~640 KB of ids, 0.2% of the queue) by default, which
 * the 8 loads running at once get through in milliseconds on a healthy MongoDB; a per-user count
 * would be a second place to keep and release the same state, for no bound that matters more.
 */
export const MAX_STORED_ACK_CHECKS = 2;

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
 * second ACKED, the others with NOT_FOUND. An owned id whose stored version is newer than the one
 * the client acks (ack-versions.ts) is answered ACKED but not acked, as the buffer does with a
 * stale version (stale-ack.ts): the newer copy stays undelivered for the next replay. If the socket closed meanwhile (the client left, or
 * shutdown), nothing is written: the client never saw the ACKED, and the catch-up of its next
 * AUTH sends the ids again. A check refused (MAX_STORED_ACK_CHECKS on this socket already, or too
 * many loads waiting) or failed is UNAVAILABLE with the ids, for the client to ACK them again.
 */
export function acknowledgeStoredOffPath(
  deps: StoredAckDeps,
  session: Session,
  userId: string,
  ids: string[],
  details: Required<AckDetails>,
  nowMs = Date.now(),
): void {
  // Read now, not when MongoDB answers: what this socket holds in flight may change meanwhile.
  const versions = new Map(ids.map((id) => [id, details.versionOf(id)]));
  const unavailable = (err: unknown) => {
    // Nobody to tell (a shutdown cancels thousands of queued checks at once: no line each).
    if (!session.open) return;
    deps.logger.warn(
      { err: errorMessage(err), userId, notificationIds: firstIds(ids) },
      'ack of stored notifications failed',
    );
    session.send(errorFrame(ERROR_CODES.unavailable, 'could not check these ids now, ACK them again', ids));
  };
  if (session.storedAckChecks >= MAX_STORED_ACK_CHECKS) {
    // Not logged: a client past its bound may send dozens of these a second.
    session.send(
      errorFrame(ERROR_CODES.unavailable, 'too many ACKs being checked on this socket, ACK these again', ids),
    );
    return;
  }
  const check = deps.loads.run(checkKey(userId, ids), () => ownedInMongo(deps.ack.models, userId, ids));
  if (!check) {
    unavailable(new Error('too many MongoDB reads waiting'));
    return;
  }
  session.storedAckChecks += 1;
  check
    .then(async (owned) => {
      if (!session.open) return;
      // The stored copy is newer than what the client acks (as buffer-ack.lua's 'stale-version'):
      // not acked, answered ACKED all the same; the next replay's catch-up sends the newer one.
      const stale = owned.filter((o) => (versions.get(o.id) ?? o.version) < o.version);
      const acked = owned.filter((o) => !stale.includes(o));
      await deps.track(acknowledgeStored(deps.ack, userId, acked, details.sentAtMs, nowMs));
      deps.delivery.acked(userId, new Map(acked.map((o) => [o.id, o.version])));
      deps.metrics.acked.inc(acked.length);
      deps.metrics.staleVersionAcks.inc(stale.length);
      if (owned.length > 0) session.send({ type: 'ACKED', ids: owned.map((o) => o.id) });
      const stored = new Set(owned.map((o) => o.id));
      const notFound = ids.filter((id) => !stored.has(id));
      if (notFound.length > 0) {
        session.send(errorFrame(ERROR_CODES.notFound, 'no pending notification of yours with these ids', notFound));
      }
    })
    .catch(unavailable)
    .finally(() => {
      session.storedAckChecks -= 1;
    });
}

/**
 * The load key of a check: the same ACK frame again (a retry, another device) shares the one
 * query. A digest, not the ids themselves: joined, 500 ids of 64 characters made a 32 KB key kept
 * for as long as the check waited. JSON keeps the ids apart (["a,b"] is not ["a", "b"]).
 */
function checkKey(userId: string, ids: string[]): string {
  return `ack:${userId}:${createHash('sha256').update(JSON.stringify(ids)).digest('base64url')}`;
}

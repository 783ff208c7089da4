import { DependencyUnavailableError } from './errors.js';
import { mongoUnavailable } from './mongo.js';
import { redisUnavailable } from './redis.js';

/**
 * The one rule that tells "a dependency is unreachable" from "this message fails", for the
 * envelope (shared/amqp/envelope.ts): a message whose retries are used up is dead-lettered only
 * for a failure of its own (a script error its content causes, an unknown error), never for an
 * outage, which would park every notification accepted during a failover or a maintenance window
 * longer than the ladder in a dead queue waiting for a manual replay. An outage waits on the last
 * rung instead, however long it lasts.
 *
 * An outage is, anywhere in the error's `cause` chain:
 * - a DependencyUnavailableError (the services' own typed form);
 * - a socket that failed (ECONNREFUSED, ETIMEDOUT, ...: whichever client saw it);
 * - Redis (ioredis): the connection closed or not writable, a command given up on
 *   (MaxRetriesPerRequestError: the client stopped retrying it while disconnected, a command or
 *   socket timeout), a cluster with no reachable node or mid-failover, and the replies by which a
 *   reachable server says it cannot serve anyone right now (LOADING, BUSY, READONLY after a
 *   failover, CLUSTERDOWN, TRYAGAIN, MASTERDOWN, NOREPLICAS with min-replicas-to-write, OOM with a
 *   full server): the next call fails the same way whatever it carries. Any other ReplyError (a
 *   script error, WRONGTYPE) is the message's own failure;
 * - RabbitMQ (amqp-connection-manager, amqplib): a publish that was not confirmed, because it
 *   timed out waiting for the broker, its channel or connection closed, or the broker nacked it;
 * - MongoDB: what shared/mongo.ts `mongoUnavailable` calls unavailable (network, server
 *   selection, the operation's deadline).
 */
export function isDependencyOutage(err: unknown): boolean {
  return anyCause(
    err,
    (e) =>
      e instanceof DependencyUnavailableError ||
      isSocketFailure(e) ||
      isRedisUnavailable(e) ||
      isAmqpUnconfirmed(e) ||
      mongoUnavailable(e) !== undefined,
  );
}

/**
 * Whether Redis itself is what is unavailable, anywhere in the error's `cause` chain (the Redis
 * part of `isDependencyOutage`): the consumer stops taking events while it lasts
 * (consumer/redis-gate.ts), since every event would fail the same way. The rule is the one
 * shared/redis.ts keeps for the producer's 503s too (a connection closed or not writable, a
 * command given up on or past its deadline, a cluster unreachable or mid-failover, and the
 * replies of a server that cannot serve anyone now), so the two never disagree.
 */
export function isRedisOutage(err: unknown): boolean {
  return anyCause(err, isRedisUnavailable);
}

function isRedisUnavailable(e: Error): boolean {
  return redisUnavailable(e) !== undefined;
}

/** `test` holds for `err` or an error in its `cause` chain (a cycle is walked once). */
function anyCause(err: unknown, test: (e: Error) => boolean): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (test(e)) return true;
  }
  return false;
}

/** Node's errno codes of a connection that could not be made or was lost. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function isSocketFailure(e: Error): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && SOCKET_CODES.has(code);
}

/**
 * amqp-connection-manager rejects an unconfirmed publish with 'timeout' (no confirm within
 * PUBLISH_CONFIRM_TIMEOUT_MS), 'Channel closed' or 'Not connected.'; amqplib with 'message
 * nacked' (the broker refused to take it: a queue without a leader, reject-publish) or an
 * IllegalOperationError once its channel or connection is closed.
 */
const AMQP_UNCONFIRMED_MESSAGES = new Set(['timeout', 'Channel closed', 'Not connected.', 'message nacked']);

function isAmqpUnconfirmed(e: Error): boolean {
  if (e.name === 'IllegalOperationError') return /closed/i.test(e.message);
  return AMQP_UNCONFIRMED_MESSAGES.has(e.message);
}

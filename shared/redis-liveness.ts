import { ReplyError } from 'ioredis';
import type { Logger } from './logger.js';
import type { RedisConnection } from './redis.js';

/**
 * Finds a connection to Redis whose other end is gone without a word, and replaces it.
 *
 * A TCP connection learns its peer is gone only from a FIN or a reset. After a failover that moved
 * the server's address, a NAT or load balancer that forgot an idle flow, or a server that hangs,
 * none comes: the operating system gives up on unacknowledged writes after about 15 minutes
 * (tcp_retries2) and on an idle connection only through keep-alive, two hours by default. Until
 * then the client believes it is connected. For a command client, every command waits; for a
 * subscriber, which never writes, the wakes just stop, and nothing ever says so.
 *
 * So a PING goes out every `intervalMs` (one at a time); one still unanswered when the next is due
 * means the connection is dead, and `disconnect(true)` drops it and reconnects. ioredis then sends
 * the unanswered commands again on the new connection, as after any dropped connection (a script
 * that ran before the silence runs twice; an event's commit then finds its own dedupe mark, an
 * ACK its acked mark), and re-subscribes a subscriber's channels, whose owner catches up on what
 * it missed (shared/redis-subscription.ts).
 * The PINGs also keep an idle subscriber's flow in a NAT's table.
 *
 * Skipped while the connection is not ready (it is already reconnecting) and while its socket is
 * paused (a subscriber under back-pressure, ws-server/wake.ts, reads no replies on purpose). On a
 * busy server a PING waits behind the commands written before it; an interval of seconds leaves
 * room for any batch the services send.
 */
export interface LivenessWatch {
  /** Idempotent; also happens by itself when the connection ends for good. */
  stop(): void;
}

export function watchLiveness(connection: RedisConnection, intervalMs: number, logger: Logger): LivenessWatch {
  if (intervalMs <= 0) return { stop: () => undefined };
  let outstanding: { sentAt: number } | undefined;
  const check = (): void => {
    if (connection.status !== 'ready' || connection.stream?.isPaused()) {
      outstanding = undefined;
      return;
    }
    if (outstanding) {
      // Decided after this turn's I/O is read: a loop blocked past the interval (a long
      // synchronous task) may have the answer waiting in the socket, unread.
      const unanswered = outstanding;
      setImmediate(() => {
        if (outstanding !== unanswered || connection.status !== 'ready') return;
        logger.warn(
          { waitedMs: Math.round(performance.now() - unanswered.sentAt) },
          'redis did not answer a PING within the interval; dropping the connection and reconnecting',
        );
        outstanding = undefined;
        connection.disconnect(true);
      });
      return;
    }
    const ping = { sentAt: performance.now() };
    outstanding = ping;
    const answered = (): void => {
      if (outstanding === ping) outstanding = undefined;
    };
    // Any answer, an error reply included (LOADING, NOAUTH), says the peer is there; the client's
    // own errors do not (a command deadline that passed, the connection closing).
    connection.ping().then(answered, (err: unknown) => {
      if (err instanceof (ReplyError as new () => Error)) answered();
    });
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  const stop = (): void => {
    clearInterval(timer);
    connection.off('end', stop);
  };
  connection.on('end', stop);
  return { stop };
}

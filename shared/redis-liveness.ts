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
 * So a PING goes out every `intervalMs`; if nothing at all was read on the socket by the next
 * check (neither its PONG nor any other reply or message: a PONG may wait behind a large batch
 * being answered or a subscriber's messages, and the producer's command deadline may discard it),
 * the connection is dead and its socket is destroyed. ioredis takes that as a dropped connection:
 * it reconnects, sends the commands it had written and not heard back from again on the new
 * connection (a script that ran before the silence runs twice; an event's commit then finds its
 * own dedupe mark, an ACK its acked mark), and re-subscribes a subscriber's channels, whose owner
 * catches up on what it missed (shared/redis-subscription.ts). A new connection whose handshake
 * reads nothing for longer than ioredis' wait between two ready checks of a loading server (10 s)
 * and an interval (a server that accepts and never answers; ioredis has no deadline for it) is
 * dropped the same way. The PINGs also keep an idle subscriber's flow in a NAT's table.
 *
 * Each drop in a row doubles the wait for the next answer (up to a minute): a server busy with
 * one long command (a command of the connection's own, sent again after each drop, or another
 * client's) is dropped a few times at most, not for as long as it keeps answering late. Skipped
 * while the connection is reconnecting, and while its socket is paused (a subscriber under
 * back-pressure, ws-server/wake.ts, reads nothing on purpose).
 */
export interface LivenessWatch {
  /** Idempotent; also happens by itself when the connection ends for good. */
  stop(): void;
}

/** The watch of each connection, so whoever closes the connection stops it (stopLiveness). */
const watches = new WeakMap<RedisConnection, LivenessWatch>();

/**
 * Stops the connection's watch, if it has one. For whoever closes it: a connection closed while it
 * was reconnecting never emits 'end' (ioredis 5), so the watch would not stop by itself.
 */
export function stopLiveness(connection: RedisConnection): void {
  watches.get(connection)?.stop();
}

/** ioredis' default `maxLoadingRetryTime`: the longest it waits before asking a loading server again. */
const IOREDIS_MAX_LOADING_RETRY_MS = 10_000;
/** The longest wait for an answer, however many drops in a row went before. */
const MAX_WAIT_MS = 60_000;

export function watchLiveness(connection: RedisConnection, intervalMs: number, logger: Logger): LivenessWatch {
  if (intervalMs <= 0) return { stop: () => undefined };
  /** The PING of the last check, on which socket, and how much that socket had read by then. */
  let outstanding: { sentAt: number; stream: RedisConnection['stream']; bytesRead: number } | undefined;
  /** A connection found connected but not ready: its socket, since when, what it had read then. */
  let handshake: { stream: RedisConnection['stream']; since: number; bytesRead: number } | undefined;
  /**
   * Drops in a row with nothing heard in between. Each doubles the wait for the next answer, so a
   * command of the connection's own that keeps Redis busy longer than an interval (and is sent
   * again after each drop) gets the time to finish instead of being cut and re-sent for ever.
   */
  let drops = 0;
  const patienceMs = (): number => Math.min(intervalMs * 2 ** drops, MAX_WAIT_MS);
  // The ready check of a loading server is asked again only after up to this long.
  const loadingRetryMs = connection.options.maxLoadingRetryTime ?? IOREDIS_MAX_LOADING_RETRY_MS;
  const replace = (why: string, waitedMs: number): void => {
    logger.warn(
      { waitedMs: Math.round(waitedMs), drops: drops + 1 },
      `redis ${why}; dropping the connection and reconnecting`,
    );
    outstanding = undefined;
    handshake = undefined;
    drops += 1;
    // Destroyed, not ended: a peer that is gone would never answer the FIN, and ioredis would wait
    // its disconnectTimeout (2 s) first. A destroyed socket is a dropped connection to ioredis,
    // which reconnects by its retryStrategy.
    connection.stream?.destroy();
  };
  /** Anything was read on the PING's socket since it was sent: its answer or any other. */
  const heardSince = (ping: NonNullable<typeof outstanding>): boolean => (ping.stream?.bytesRead ?? 0) > ping.bytesRead;
  const check = (): void => {
    const now = performance.now();
    const stream = connection.stream;
    if (connection.status === 'connect') {
      // Connected, and the handshake (AUTH, SELECT, the ready check's INFO) unanswered: ioredis
      // has no deadline for that, so a server that accepts and never answers would hold the
      // client here for good, with the commands of the connection it replaced. A loading server
      // answers the ready check and is asked again up to `loadingRetryMs` later, so a handshake
      // is dropped only after reading nothing for longer than that and the interval.
      outstanding = undefined;
      const bytesRead = stream?.bytesRead ?? 0;
      if (handshake?.stream !== stream || bytesRead !== handshake.bytesRead)
        handshake = { stream, since: now, bytesRead };
      else if (now - handshake.since >= Math.max(loadingRetryMs, patienceMs()) + intervalMs)
        replace('did not answer the connection handshake', now - handshake.since);
      return;
    }
    handshake = undefined;
    if (connection.status !== 'ready' || stream?.isPaused()) {
      outstanding = undefined;
      return;
    }
    // A PING of an earlier socket says nothing about this one: start afresh.
    if (outstanding && outstanding.stream !== stream) outstanding = undefined;
    if (outstanding) {
      const unanswered = outstanding;
      if (heardSince(unanswered)) {
        drops = 0;
      } else {
        if (now - unanswered.sentAt < patienceMs()) return;
        // Decided after this turn's I/O is read: a loop blocked past the interval (a long
        // synchronous task) may have the answer waiting in the socket, unread.
        setImmediate(() => {
          if (outstanding !== unanswered || connection.status !== 'ready' || connection.stream !== unanswered.stream)
            return;
          if (connection.stream?.isPaused()) return;
          if (heardSince(unanswered)) drops = 0;
          else replace('sent nothing for a whole PING interval', performance.now() - unanswered.sentAt);
        });
        return;
      }
    }
    outstanding = { sentAt: now, stream, bytesRead: stream?.bytesRead ?? 0 };
    // Its answer, an error reply included, or any other bytes read on the socket after it count
    // alike (heardSince, at the next check): the PONG may wait behind a large batch being answered, or behind a
    // subscriber's messages, and a command deadline (the producer's) may discard it.
    connection.ping().catch(() => undefined);
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  const watch: LivenessWatch = {
    stop: () => {
      clearInterval(timer);
      connection.off('end', watch.stop);
      watches.delete(connection);
    },
  };
  connection.on('end', watch.stop);
  watches.set(connection, watch);
  return watch;
}

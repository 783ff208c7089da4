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
 * it reconnects, sends the unanswered commands again on the new connection, as after any dropped
 * connection (a script that ran before the silence runs twice; an event's commit then finds its
 * own dedupe mark, an ACK its acked mark), and re-subscribes a subscriber's channels, whose owner
 * catches up on what it missed (shared/redis-subscription.ts). A new connection whose handshake
 * reads nothing for a whole interval (a server that accepts and never answers; ioredis has no
 * deadline for it) is dropped the same way. The PINGs also keep an idle subscriber's flow in a
 * NAT's table.
 *
 * Skipped while the connection is reconnecting and while its socket is paused (a subscriber under
 * back-pressure, ws-server/wake.ts, reads nothing on purpose). A server that sends nothing at all
 * for a whole interval (a DEBUG SLEEP, a KEYS on millions of keys) is taken for dead as well; the
 * reconnect costs it nothing but the commands sent again.
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

export function watchLiveness(connection: RedisConnection, intervalMs: number, logger: Logger): LivenessWatch {
  if (intervalMs <= 0) return { stop: () => undefined };
  /** The PING of the last check, on which socket, and how much that socket had read by then. */
  let outstanding: { sentAt: number; stream: RedisConnection['stream']; bytesRead: number } | undefined;
  /** The socket of a connection found connected but not ready, and what it had read by then. */
  let handshake: { stream: RedisConnection['stream']; bytesRead: number } | undefined;
  const replace = (why: string, waitedMs: number): void => {
    logger.warn({ waitedMs: Math.round(waitedMs) }, `redis ${why}; dropping the connection and reconnecting`);
    outstanding = undefined;
    handshake = undefined;
    // Destroyed, not ended: a peer that is gone would never answer the FIN, and ioredis would wait
    // its disconnectTimeout (2 s) first. A destroyed socket is a dropped connection to ioredis,
    // which reconnects by its retryStrategy.
    connection.stream?.destroy();
  };
  /** Anything read on the PING's socket since it was sent says the peer is there. */
  const heardSince = (ping: NonNullable<typeof outstanding>): boolean =>
    connection.stream === ping.stream && (ping.stream?.bytesRead ?? 0) > ping.bytesRead;
  const check = (): void => {
    if (connection.status === 'connect') {
      // Connected, and the handshake (AUTH, SELECT, the ready check's INFO) unanswered: ioredis
      // has no deadline for that, so a server that accepts and never answers would hold the
      // client here for good, with the commands of the connection it replaced.
      // Bytes read meanwhile are answers (a loading server answers the ready check, and ioredis
      // asks again), so only a handshake that read nothing for a whole interval is dropped.
      outstanding = undefined;
      const stream = connection.stream;
      const bytesRead = stream?.bytesRead ?? 0;
      if (handshake?.stream === stream && bytesRead === handshake.bytesRead)
        replace('did not answer the connection handshake within the interval', intervalMs);
      else handshake = { stream, bytesRead };
      return;
    }
    handshake = undefined;
    if (connection.status !== 'ready' || connection.stream?.isPaused()) {
      outstanding = undefined;
      return;
    }
    if (outstanding) {
      const unanswered = outstanding;
      if (heardSince(unanswered)) {
        outstanding = undefined;
      } else {
        // Decided after this turn's I/O is read: a loop blocked past the interval (a long
        // synchronous task) may have the answer waiting in the socket, unread.
        setImmediate(() => {
          if (outstanding !== unanswered || connection.status !== 'ready' || connection.stream?.isPaused()) return;
          if (heardSince(unanswered)) outstanding = undefined;
          else replace('sent nothing for a whole PING interval', performance.now() - unanswered.sentAt);
        });
        return;
      }
    }
    const stream = connection.stream;
    const ping = { sentAt: performance.now(), stream, bytesRead: stream?.bytesRead ?? 0 };
    outstanding = ping;
    // Its answer, an error reply included, or any other bytes read on the socket after it count
    // (heardSince): the PONG may wait behind a large batch being answered, or behind a
    // subscriber's messages, and a command deadline (the producer's) may discard it.
    connection.ping().then(
      () => {
        if (outstanding === ping) outstanding = undefined;
      },
      () => undefined,
    );
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

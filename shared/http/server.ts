import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config, ServiceName } from '../config.js';
import type { Logger } from '../logger.js';
import { IDLE_SWEEP_EVENT, idleSweeper } from './idle-sweep.js';

const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** At most one warning this often while connections are refused at the cap. */
const DROP_WARN_INTERVAL_MS = 10_000;
/** Node checks the header and request deadlines only this often (its default is 30 s). */
const MAX_CHECK_INTERVAL_MS = 1000;

/** What one client may hold of a server: time to send a request, and the connections of all. */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
}

/** The limits of a service's port: the ws-server holds long-lived sockets, so it has its own cap. */
export function connectionLimits(config: Config, service: ServiceName): ConnectionLimits {
  return {
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    maxConnections: service === 'ws-server' ? config.ws.maxConnections : config.http.maxConnections,
  };
}

export interface HttpServer {
  server: Server;
  port: number;
  /**
   * Stops accepting and drops idle keep-alive sockets at once; a request in flight gets its
   * answer, after which its socket is closed (`Connection: close`), so no further request comes
   * in on it. Whatever is still open after `graceMs` (default 2 s) is destroyed: a service whose
   * requests may wait longer for a dependency passes that wait plus a margin.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * `backlog`: connections the kernel queues before they are accepted (Node's default, 511, if omitted).
 *
 * A connection that has not sent a whole header block within `headersTimeoutMs` of opening (or of
 * the first byte of its next request) gets a 408 and is closed: a socket that sends nothing, or
 * a slowloris dribbling header lines, no longer holds a slot. The WebSocket upgrade is an HTTP
 * request, so this bounds a TCP connection that never completes the handshake too; once
 * upgraded, the socket is the ws-server's (AUTH_TIMEOUT_MS, heartbeats). Past `maxConnections`
 * open connections a new one is closed at once ('drop' event), the ones held keep working; from
 * 90 % of it idle keep-alive connections are closed (idle-sweep.ts), so idle sockets never hold
 * the cap for their 65 s.
 */
export async function listen(
  handler: RequestListener,
  port: number,
  /** Undefined: every interface, IPv6 and IPv4 (Node's default: `::`, or 0.0.0.0 without IPv6). */
  host: string | undefined,
  limits: ConnectionLimits,
  backlog?: number,
): Promise<HttpServer> {
  // The responses not yet finished, with their sockets (a finished response no longer names it).
  const inFlight = new Map<ServerResponse, Socket>();
  let closing: Promise<void> | undefined;
  const sockets = new Set<Socket>();
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // At Node's 30 s a deadline of 10 s would really be up to 40 s.
      connectionsCheckingInterval: Math.min(
        MAX_CHECK_INTERVAL_MS,
        Math.max(50, Math.floor(limits.headersTimeoutMs / 4)),
      ),
    },
    (req, res) => {
      const socket = req.socket;
      inFlight.set(res, socket);
      res.once('close', () => {
        inFlight.delete(res);
        // Its socket may be idle now, and one more idle socket may be what holds the cap.
        nudgeSweep();
      });
      if (closing) endAfter(res, socket);
      handler(req, res);
    },
  );
  // Idle keep-alive sockets outlive the client's and the proxy's (60 s on most load balancers):
  // with Node's 5 s default the server closes a socket just as a client reuses it, and that
  // request fails with "socket hang up" although the server never saw it. Between requests only
  // this applies: the headers deadline starts with the next request's first byte (Node 18+).
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = limits.maxConnections;
  // Declared after the handler that calls it, but before listening, so before any request.
  const nudgeSweep = idleSweeper(server, sockets, limits.maxConnections);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    nudgeSweep();
  });
  server.on('drop', () => nudgeSweep());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(
      { port, ...(host === undefined ? {} : { host }), ...(backlog === undefined ? {} : { backlog }) },
      () => {
        server.off('error', reject);
        resolve();
      },
    );
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: (graceMs = 2000) => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Node keeps a busy keep-alive socket open after its answer, serving the client's next
        // request, until the keep-alive timeout: shutdown would wait out the whole grace for it.
        for (const [res, socket] of inFlight) endAfter(res, socket);
        // A client holding a keep-alive socket open must not stall shutdown forever.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, graceMs).unref();
      });
      return closing;
    },
  };
}

/** The response's socket closes once it is answered: the server is shutting down. */
function endAfter(res: ServerResponse, socket: Socket): void {
  // Node ends the socket itself after a response that says so, and the client knows not to reuse it.
  if (!res.headersSent) res.setHeader('Connection', 'close');
  else res.once('close', () => socket.end());
}

/**
 * Logs (at most every 10 s) and counts the connections refused at `maxConnections`, and the idle
 * keep-alive connections closed near it (`countIdleClosed`).
 */
export function reportDrops(
  server: Server,
  logger: Logger,
  count: () => void = () => undefined,
  countIdleClosed: (closed: number) => void = () => undefined,
): void {
  const idleClosed = throttledWarning(
    logger,
    server,
    'idleClosedSinceWarning',
    'idle keep-alive connections closed: near the connection cap',
  );
  const dropped = throttledWarning(logger, server, 'droppedSinceWarning', 'connection refused: at the connection cap');
  server.on(IDLE_SWEEP_EVENT, (closed: number) => {
    countIdleClosed(closed);
    idleClosed(closed);
  });
  server.on('drop', () => {
    count();
    dropped(1);
  });
}

/** Adds to a count and logs it, with the cap, at most every DROP_WARN_INTERVAL_MS: a flood is one line, not one each. */
function throttledWarning(logger: Logger, server: Server, countField: string, message: string): (n: number) => void {
  let lastWarnMs = 0;
  let sinceWarning = 0;
  return (n) => {
    sinceWarning += n;
    if (Date.now() - lastWarnMs < DROP_WARN_INTERVAL_MS) return;
    lastWarnMs = Date.now();
    logger.warn({ maxConnections: server.maxConnections, [countField]: sinceWarning }, message);
    sinceWarning = 0;
  };
}

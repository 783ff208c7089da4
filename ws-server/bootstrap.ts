import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import type { Redis } from '../shared/redis.js';
import { createTokenVerifier } from '../shared/auth/jwt.js';
import { servicePort, type Config } from '../shared/config.js';
import { errorMessage } from '../shared/errors.js';
import { createOpsApp } from '../shared/http/ops.js';
import { requestLog } from '../shared/http/request-log.js';
import { connectionLimits, listen, reportDrops } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll, settleWithin, withTimeout } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { BackgroundLoads } from '../shared/background.js';
import { preferenceStore } from '../shared/preferences.js';
import { keys } from '../shared/keys.js';
import type { ServiceHandle } from '../shared/service.js';
import { AuthDeadlines } from './auth-deadline.js';
import { connectionHandler } from './connection.js';
import { Delivery } from './delivery.js';
import { mountClientScript } from './client-script.js';
import { FrameWindow, MAX_FRAMES_IN_FLIGHT } from './frame-window.js';
import { mountDemoPage } from './demo-page.js';
import { startHeartbeat } from './heartbeat.js';
import { createWsMetrics } from './metrics.js';
import { CLOSE } from './protocol.js';
import { wakeHandler } from './push.js';
import { ConnectionRegistry } from './registry.js';
import { resyncSessions } from './resync.js';
import { InstanceRoute, newInstanceId } from './route.js';
import type { Session } from './session.js';
import { announceUnreadState, unreadReader } from './unread.js';
import { subscribeToWakes } from './wake.js';

export interface WsServerService extends ServiceHandle {
  port: number;
  /** This process's id in the users' wake routes; its wakes come on keys.wakeChannel(prefix, instanceId). */
  instanceId: string;
  /** CLIENT SETNAME of this instance's wake subscriber connection (tests cut it). */
  wakeConnectionName: string;
  /** The instance's main Redis client (tests count the commands it sends). */
  redis: Redis;
  /** Connections the server holds now, upgraded or not: what WS_MAX_CONNECTIONS counts (tests wait on it). */
  connections(): Promise<number>;
}

/** How long shutdown waits for clients to answer the 1001 close before cutting them. */
const CLOSE_WAIT_MS = 1000;
/**
 * Sockets sent their 1001 per turn of the event loop. Each costs a write (0.1 ms or more), so
 * 20,000 in one go would hold the loop for seconds while ACK confirms wait to be read.
 */
const CLOSE_SLICE = 500;
/** Ops requests (/metrics, /readyz) finish in milliseconds; a connection still open after this is cut. */
const HTTP_CLOSE_GRACE_MS = 500;
/** close() ends this long before SHUTDOWN_TIMEOUT_MS at the latest, so runService sees it finish. */
const SHUTDOWN_MARGIN_MS = 250;
/** At most one warning this often while accept() keeps failing. */
const ACCEPT_WARN_INTERVAL_MS = 10_000;

export async function bootstrap(config: Config, baseLogger: Logger): Promise<WsServerService> {
  // Random per process, on every log line: wakes are routed to it (route.ts), so "which instance"
  // is the first question about a wake that did or did not arrive.
  const instanceId = newInstanceId();
  const logger = baseLogger.child({ instanceId });
  const tokens = await createTokenVerifier(config.auth);
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('ws-server');
  // MongoDB reads the socket path wants but never waits on (shared/background.ts).
  const loads = new BackgroundLoads(logger);
  const metrics = createWsMetrics(registry, loads);
  const connections = new ConnectionRegistry(config.ws.maxSocketsPerUser);
  const sessions = new Set<Session>();
  const delivery = new Delivery(
    infra.redis,
    connections,
    metrics,
    {
      ackTimeoutMs: config.ws.ackTimeoutMs,
      maxRedeliveries: config.ws.maxRedeliveries,
    },
    logger,
  );
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  };

  const resyncUsers = (users: string[] | undefined, why: string) => {
    track(resyncSessions(resyncDeps, users)).then(
      (count) => logger.info({ users: count }, `local sockets resynced after ${why}`),
      (err: unknown) => logger.warn({ err: errorMessage(err) }, `resync after ${why} failed`),
    );
  };
  const route = new InstanceRoute(
    infra.redis,
    connections,
    { instanceId, ttlMs: config.ws.routeTtlMs, refreshMs: config.ws.routeRefreshMs },
    (users) => resyncUsers(users, 'a lapsed wake route'),
    metrics,
    logger,
  );

  const frames = new FrameWindow(MAX_FRAMES_IN_FLIGHT, () => metrics.readsPaused.inc());

  const publisher = await infra.amqp.createChannel('ws-acks');
  const fallbackWaitMs = config.mongo.fallbackWaitMs;
  const unread = unreadReader({
    redis: infra.redis,
    models: infra.models,
    loads,
    fallbackWaitMs,
    onRebuilt: (userId, state) => announceUnreadState(connections, userId, state),
    wanted: (userId) => connections.sessionsOf(userId).length > 0,
  });
  const readUnread = unread.read;
  const preferences = preferenceStore(infra.models, infra.redis, {
    cacheTtlSeconds: config.pipeline.preferencesCacheTtlSeconds,
    fallbackWaitMs,
    loads,
    onFallback: () => metrics.storeFallbacks.inc({ read: 'preferences' }),
    changesChannel: keys.preferencesChanged(config.redis.keyPrefix),
  });
  const deps = {
    config,
    tokens,
    readUnread,
    preferences,
    catchUp: {
      redis: infra.redis,
      models: infra.models,
      bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
      replayLimit: config.ws.replayLimit,
      loads,
      delivery,
      metrics,
      logger,
    },
    registry: connections,
    route,
    loads,
    delivery,
    metrics,
    logger,
    track,
    frames,
    ack: {
      redis: infra.redis,
      models: infra.models,
      publisher,
      acksQueue: infra.amqp.topology.acksQueue,
      bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
    },
  };

  const pushDeps = { redis: infra.redis, registry: connections, delivery, readUnread };
  const resyncDeps = {
    ...pushDeps,
    keyPrefix: config.redis.keyPrefix,
    preferences,
    replayLimit: config.ws.replayLimit,
    route: route.registration,
    logger,
  };
  // Subscribed before the first AUTH can register this instance anywhere, so every wake the
  // routes bring is heard.
  const wakes = await subscribeToWakes(
    infra.redis,
    config.redis.keyPrefix,
    instanceId,
    { onWake: wakeHandler(pushDeps, track, metrics, logger), onResync: () => resyncUsers(undefined, 'a wake gap') },
    logger,
  );
  route.start();
  const app = createOpsApp(infra.checks, registry, requestLog(logger, config));
  mountClientScript(app);
  mountDemoPage(app, config);
  // A reconnect storm opens thousands of sockets at once; past the backlog the kernel drops
  // handshakes and each client waits for its TCP retry (1, 3, 7... s; docs/performance.md).
  const http = await listen(
    app,
    servicePort(config, 'ws-server'),
    config.http.host,
    connectionLimits(config, 'ws-server'),
    config.ws.listenBacklogConnections,
  );
  // Past WS_MAX_CONNECTIONS a new connection is closed before its handshake: the sockets held
  // keep working, and memory stays bounded whatever a flood of connections does.
  reportDrops(
    http.server,
    logger,
    () => metrics.acceptErrors.inc({ code: 'max_connections' }),
    (closed) => metrics.idleConnectionsClosed.inc(closed),
  );
  // No client tracking: `sessions` already holds every socket, and a second set would cost each one.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.ws.maxFrameBytes, clientTracking: false });
  const deadlines = new AuthDeadlines(config.ws.authTimeoutMs, (s) =>
    s.close(CLOSE.authFailed, 'authentication timeout', 'auth'),
  );
  wss.on('connection', connectionHandler(deps, sessions, deadlines));

  // At the process's file-descriptor limit accept() fails with EMFILE; libuv sheds the pending
  // connection and the server must go on serving the sockets it holds, not crash on the error.
  let lastAcceptWarnMs = 0;
  http.server.on('error', (err: NodeJS.ErrnoException) => {
    metrics.acceptErrors.inc({ code: err.code ?? 'unknown' });
    if (Date.now() - lastAcceptWarnMs < ACCEPT_WARN_INTERVAL_MS) return;
    lastAcceptWarnMs = Date.now();
    logger.warn({ err: errorMessage(err), code: err.code }, 'could not accept a connection (file-descriptor limit?)');
  });

  let accepting = true;
  http.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  const stopHeartbeat = startHeartbeat(
    () => sessions,
    config.ws.heartbeatIntervalMs,
    (s) => {
      metrics.closed.inc({ reason: 'heartbeat' });
      s.ws.terminate();
    },
  );

  logger.info({ port: http.port, authMode: config.auth.mode, instanceId }, 'ws-server listening');
  if (config.auth.mode === 'dev') logger.warn('WS_AUTH_MODE=dev: sockets may authenticate with a bare userId');

  /**
   * Every session stops at once: no frame of it starts from here, and its redelivery and catch-up
   * timers stop (an instance behind on ACKs holds hundreds of thousands). Then 1001 to every
   * socket, a slice per turn of the event loop, so ACK confirms are read in between.
   */
  const sendGoingAway = async (): Promise<Session[]> => {
    const open = [...sessions].filter((s) => s.state !== 'closed');
    for (const s of open) s.markClosed();
    for (let i = 0; i < open.length; i += CLOSE_SLICE) {
      // 1001 tells clients to reconnect, to another instance; unacked notifications stay pending.
      for (const s of open.slice(i, i + CLOSE_SLICE)) s.sendClose(CLOSE.goingAway, 'server shutting down', 'shutdown');
      await nextTurn();
    }
    return open;
  };

  /**
   * The close answers: frames still waiting for room are dropped (unanswered, so the clients send
   * them again after reconnecting) and paused sockets are read again so their answers arrive.
   * Whoever has not answered within CLOSE_WAIT_MS is cut (the client has the 1001 frame already).
   */
  const awaitClosed = async (open: Session[]): Promise<{ sockets: number; cut: number }> => {
    const closed = open
      .filter((s) => s.ws.readyState !== s.ws.CLOSED)
      .map((s) => new Promise<void>((resolve) => s.ws.once('close', () => resolve())));
    frames.close();
    if (await settleWithin(closed, CLOSE_WAIT_MS)) return { sockets: open.length, cut: 0 };
    const cut = sessions.size;
    for (const s of sessions) s.ws.terminate();
    return { sockets: open.length, cut };
  };

  /**
   * Waits until no frame or wake is being handled, or `untilMs`. Work may start while the sockets
   * are being closed (frames read before their 1001), hence the loop. An ACK in flight has
   * written Redis and waits for the broker's confirm: it must land before the channel closes, or
   * Redis would hold an ack jobs never hears of.
   */
  const drain = async (untilMs: number): Promise<boolean> => {
    while (inFlight.size > 0) {
      const ms = untilMs - Date.now();
      if (ms <= 0 || !(await settleWithin(inFlight, ms))) return false;
    }
    return true;
  };

  return {
    port: http.port,
    instanceId,
    wakeConnectionName: wakes.connectionName,
    redis: infra.redis,
    connections: () =>
      new Promise<number>((resolve, reject) =>
        http.server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      ),
    close: once(async () => {
      const startedMs = Date.now();
      const deadlineMs =
        startedMs + config.shutdownTimeoutMs - Math.min(SHUTDOWN_MARGIN_MS, config.shutdownTimeoutMs / 10);
      const left = () => Math.max(0, deadlineMs - Date.now());
      const inFlightAtStart = inFlight.size;
      accepting = false;
      const ms: Record<string, number> = {};
      let sockets = { sockets: 0, cut: 0 };
      let drained = true;
      const timed = (name: string, step: () => Promise<unknown>) => async () => {
        const t = Date.now();
        try {
          await step();
        } finally {
          ms[name] = Date.now() - t;
        }
      };
      // Each step its own: one that throws must not skip the rest (the stores would stay open).
      await runAll([
        // No refresh from here; each user's last socket closing below leaves the route (route.ts).
        () => route.stop(),
        () => loads.close(),
        () => unread.stop(),
        () => stopHeartbeat(),
        () => deadlines.stop(),
        // Nothing new to push from here on.
        timed('wakes', () => wakes.close()),
        // Sockets get 1001; then, together, their close answers come and the frames in hand finish
        // (ACKs reach Redis and the broker). The drain has until half the budget; the rest is for
        // the listeners and the stores.
        timed('socketsAndDrain', async () => {
          const open = await sendGoingAway();
          [sockets, drained] = await Promise.all([awaitClosed(open), drain(startedMs + config.shutdownTimeoutMs / 2)]);
        }),
        () => new Promise<void>((resolve) => wss.close(() => resolve())),
        timed('http', () => http.close(Math.min(HTTP_CLOSE_GRACE_MS, left()))),
        // Every ACK has its confirm by now (or the drain ran out, logged below): a store that is
        // slow to say goodbye is left behind rather than holding the exit past the budget.
        timed('stores', () =>
          withTimeout(infra.close(), left(), () => new Error('stores did not close in time')).catch((err: unknown) =>
            logger.warn({ err: errorMessage(err) }, 'closing the stores was cut short at the shutdown bound'),
          ),
        ),
      ]);
      const summary = { ms: Date.now() - startedMs, steps: ms, ...sockets, inFlightAtStart };
      if (drained) logger.info(summary, 'ws-server closed: sockets closed with 1001, frames in flight drained');
      else
        logger.warn(
          { ...summary, inFlight: inFlight.size },
          'drain timed out; closed with frames in flight (their ACKs were not answered)',
        );
    }),
  };
}

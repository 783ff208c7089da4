import type { RawData, WebSocket } from 'ws';
import type { TokenVerifier } from '../shared/auth/jwt.js';
import type { BackgroundLoads } from '../shared/background.js';
import type { Config } from '../shared/config.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { firstIds } from '../shared/log-ids.js';
import type { PreferenceStore } from '../shared/preferences.js';
import type { AckDeps } from './ack.js';
import { acknowledge } from './ack.js';
import { ackVersions } from './ack-versions.js';
import { AuthFailedError, authenticate } from './auth.js';
import type { AuthDeadlines } from './auth-deadline.js';
import type { Delivery } from './delivery.js';
import type { FrameWindow } from './frame-window.js';
import { FrameRateLimiter } from './limits.js';
import type { WsMetrics } from './metrics.js';
import { CLOSE, ERROR_CODES, ProtocolError, errorFrame, parseClientFrame, type ClientFrame } from './protocol.js';
import type { ConnectionRegistry } from './registry.js';
import { planReplay } from './replay.js';
import type { InstanceRoute } from './route.js';
import { startCatchUp, type CatchUpDeps } from './catch-up.js';
import { Session } from './session.js';
import { sendNewerVersions } from './stale-ack.js';
import { acknowledgeStoredOffPath } from './stored-ack.js';
import type { UnreadReader } from './unread.js';

export interface ConnectionDeps {
  config: Config;
  /** Built once at bootstrap from config.auth.token. */
  tokens: TokenVerifier;
  registry: ConnectionRegistry;
  /** This instance in the users' wake routes: AUTH registers, the last close here releases. */
  route: InstanceRoute;
  delivery: Delivery;
  metrics: WsMetrics;
  ack: AckDeps;
  readUnread: UnreadReader;
  preferences: PreferenceStore;
  catchUp: CatchUpDeps;
  /** Bounded MongoDB reads off the frame path (shared/background.ts): an ACK's MongoDB-only ids. */
  loads: BackgroundLoads;
  logger: Logger;
  /** Keeps shutdown waiting for frames being handled. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Bounds the frames handled at once; past it frames wait and sockets are not read (frame-window.ts). */
  frames: FrameWindow;
}

/** The session of a socket, kept on the socket so the listeners below can be shared. */
const SESSION = Symbol('session');
type SessionSocket = WebSocket & { [SESSION]?: Session };

/**
 * Every socket's lifecycle: the frame handler parses, checks limits and hands each frame to its
 * use case (authenticate + replay, acknowledge, ping). Every failure becomes an ERROR frame or
 * a close code from protocol.ts; nothing a client sends can crash the server.
 *
 * The listeners are created once per server, not per socket: an idle socket then costs its
 * Session and what ws itself keeps, not five closures and a timer.
 */
export function connectionHandler(
  deps: ConnectionDeps,
  sessions: Set<Session>,
  deadlines: AuthDeadlines,
): (ws: WebSocket) => void {
  const { config, metrics } = deps;

  function onPong(this: SessionSocket): void {
    const session = this[SESSION];
    if (session) session.alive = true;
  }

  function onError(err: Error): void {
    deps.logger.debug({ err: errorMessage(err) }, 'socket error');
  }

  function onClose(this: SessionSocket): void {
    const session = this[SESSION];
    if (!session) return;
    deadlines.remove(session);
    session.markClosed();
    sessions.delete(session);
    metrics.connectedSockets.dec();
    if (session.userId) {
      if (deps.registry.remove(session.userId, session)) deps.route.release(session.userId);
      metrics.authenticatedUsers.set(deps.registry.userCount);
    }
  }

  function onMessage(this: SessionSocket, data: RawData, isBinary: boolean): void {
    const session = this[SESSION];
    if (!session || session.state === 'closed') return;
    if (!session.limiter.allow()) {
      session.close(CLOSE.policyViolation, 'too many frames per second', 'flood');
      return;
    }
    let frame: ClientFrame;
    try {
      if (isBinary) throw new ProtocolError(ERROR_CODES.badFrame, 'frames are JSON text, not binary');
      frame = parseClientFrame(rawText(data), { maxAckBatch: config.ws.maxAckBatch });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      session.send(errorFrame(err.code, err.message));
      return;
    }
    const handle = () =>
      deps.track(
        dispatch(session, frame, deps).catch((err: unknown) => {
          const notificationIds = frame.type === 'ACK' ? firstIds(frame.notificationIds) : undefined;
          deps.logger.warn(
            { err: errorMessage(err), frame: frame.type, userId: session.userId, notificationIds },
            'frame handling failed',
          );
          session.send(errorFrame(ERROR_CODES.unavailable, 'temporarily unavailable, retry'));
        }),
      );
    // A PING is answered at once and costs no store; AUTH and ACK wait on Redis and the broker,
    // and how many do at once is bounded (frame-window.ts). A PING flood is thus read at the
    // speed it comes, and the rate limit above cuts it off.
    if (frame.type === 'PING') {
      void handle();
      return;
    }
    // Sent in time, even if it waits for room (the deadline is for sending it).
    if (frame.type === 'AUTH') deadlines.remove(session);
    deps.frames.submit(session, handle);
  }

  return (ws) => {
    const session = new Session(
      ws,
      config.ws.maxBufferedBytes,
      metrics,
      new FrameRateLimiter(config.ws.maxFramesPerSecond),
    );
    (ws as SessionSocket)[SESSION] = session;
    sessions.add(session);
    deadlines.add(session);
    metrics.connectedSockets.inc();
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
    ws.on('message', onMessage);
  };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data as ArrayBuffer).toString('utf8');
}

async function dispatch(session: Session, frame: ClientFrame, deps: ConnectionDeps): Promise<void> {
  if (frame.type === 'AUTH') {
    if (session.state !== 'new') {
      session.send(errorFrame(ERROR_CODES.alreadyAuthenticated, 'this socket is already authenticated'));
      return;
    }
    await onAuth(session, frame, deps);
    return;
  }
  // Every other frame, PING included, waits for AUTH_OK: an unauthenticated socket gets nothing
  // but errors, so it cannot use the server as a free echo (docs/protocol.md).
  if (session.state !== 'ready' || !session.userId) {
    session.send(errorFrame(ERROR_CODES.notAuthenticated, 'send AUTH first'));
    return;
  }
  if (frame.type === 'PING') {
    session.send({ type: 'PONG' });
    return;
  }
  const userId = session.userId;
  // Read before `acked` below forgets them: the script records each id's first send as 'sent',
  // and an id's version may be the one this socket sent (ack-versions.ts).
  const sentAtMs = (id: string) => deps.delivery.firstSentAtMs(userId, id);
  const versionOf = ackVersions(frame, session);
  const nowMs = Date.now();
  const result = await acknowledge(deps.ack, userId, frame.notificationIds, { sentAtMs, versionOf }, nowMs);
  deps.delivery.acked(userId, result.ackedVersions);
  const stale = result.stale.map((n) => n.id);
  deps.logger.debug(
    {
      userId,
      notificationIds: firstIds(result.acked),
      missing: firstIds(result.missing),
      ...(stale.length > 0 ? { staleVersions: firstIds(stale) } : {}),
    },
    'notifications acked',
  );
  deps.metrics.acked.inc(result.newlyAcked.length);
  deps.metrics.staleVersionAcks.inc(stale.length);
  // A stale version's ACK is answered too: the client is done with that ACK (it stops resending
  // it), and the newer version it has not acked comes as a NOTIFICATION asking for its own.
  const answered = [...result.acked, ...stale];
  if (answered.length > 0) session.send({ type: 'ACKED', ids: answered });
  // Not in Redis: MongoDB-only notifications (or not the user's). Answered in a second frame, off
  // the frame path: a slow MongoDB holds neither the ACKED above nor this frame's slot.
  if (result.missing.length > 0)
    acknowledgeStoredOffPath(deps, session, userId, result.missing, { sentAtMs, versionOf }, nowMs);
  // Off the frame path too: it may read the preferences (MongoDB behind Redis). The ACK is
  // answered whatever happens here; a newer version not pushed now stays pending in Redis and
  // comes with the next replay.
  if (result.stale.length > 0)
    sendNewerVersions(deps, session, userId, result.stale).catch((err: unknown) =>
      deps.logger.warn(
        { userId, err: errorMessage(err) },
        'newer version not pushed after an ACK of an older one; it stays pending for the next replay',
      ),
    );
}

async function onAuth(
  session: Session,
  frame: Extract<ClientFrame, { type: 'AUTH' }>,
  deps: ConnectionDeps,
): Promise<void> {
  session.state = 'authenticating'; // from here the AUTH deadline no longer applies (auth-deadline.ts)
  const stage = stageTimer(deps.metrics, session.openedAtMs);
  stage('frame');
  let userId: string;
  let validUntilMs: number | undefined;
  try {
    ({ userId, validUntilMs } = await authenticate(frame, deps.config.auth.mode, deps.tokens));
    stage('verified');
  } catch (err) {
    if (!(err instanceof AuthFailedError)) throw err;
    session.close(CLOSE.authFailed, err.message, 'auth');
    return;
  }
  if (!session.open) return;
  if (!deps.registry.add(userId, session)) {
    session.close(CLOSE.policyViolation, 'too many sockets for this user', 'too-many-sockets');
    return;
  }
  session.userId = userId;
  deps.metrics.authenticatedUsers.set(deps.registry.userCount);
  if (validUntilMs !== undefined) session.expireAt(validUntilMs);
  try {
    // Redis only, one call (docs/protocol.md): this instance joins the user's wake route, then the
    // pending buffer and the replay-clean mark, the unread count, the preferences for
    // do-not-disturb are read. The socket is in `registry` already, so a wake the route brings
    // from here on finds it (and is deferred until the replay is sent). A count or preferences
    // Redis lacks come from MongoDB in the background; AUTH waits for them at most
    // MONGO_FALLBACK_WAIT_MS.
    const { replay, unread, heldBack } = await planReplay(
      {
        redis: deps.ack.redis,
        keyPrefix: deps.config.redis.keyPrefix,
        preferences: deps.preferences,
        readUnread: deps.readUnread,
        route: deps.route.registration,
      },
      userId,
      deps.config.ws.replayLimit,
      frame.lastSeq,
    );
    if (!session.open) return;
    if (replay.resumeReset) {
      // Only a Redis that lost the user's keys makes it, and then every resuming socket does:
      // debug, or a data loss would log a line per client at once.
      deps.logger.debug(
        { userId, lastSeq: frame.lastSeq, seq: replay.seq },
        'AUTH lastSeq above the user seq (Redis lost its data?): whole replay, resume point reset',
      );
    }
    if (unread) session.observeUnread(unread);
    else deps.metrics.storeFallbacks.inc({ read: 'unread' });
    const current = session.unread; // a wake during the replay may have brought a newer one
    session.state = 'ready';
    session.send({
      type: 'AUTH_OK',
      userId,
      pending: replay.pending,
      recovered: replay.recovered,
      catchingUp: replay.catchingUp,
      seq: replay.seq,
      ...(replay.resumeReset ? { resumeReset: true } : {}),
      ...(current ? { unread: current.count, unreadVersion: current.version } : {}),
      ackVersions: true,
    });
    stage('ready');
    deps.delivery.push(session, replay.notifications);
    deps.delivery.push(session, session.takeDeferred());
    // The lastSeq the replay followed: none when it was above the user's seq (resumeReset).
    if (replay.catchingUp) startCatchUp(deps.catchUp, session, userId, replay.lastSeq, replay, heldBack);
  } catch (err) {
    // Without a replay the socket would silently miss notifications: let the client reconnect.
    session.close(CLOSE.tryAgainLater, 'replay unavailable, reconnect', 'unavailable');
    throw err;
  }
}

/** Observes the time since the previous stage (the first since the socket opened). */
function stageTimer(metrics: WsMetrics, sinceMs: number): (stage: 'frame' | 'verified' | 'ready') => void {
  let last = sinceMs;
  return (stage) => {
    const now = performance.now();
    metrics.authStage.observe({ stage }, (now - last) / 1000);
    last = now;
  };
}

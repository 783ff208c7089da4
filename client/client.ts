import {
  DEFAULT_MAX_ACK_BATCH,
  ERROR_CODES,
  MAX_NOTIFICATION_ID_LENGTH,
  type AuthFrame,
  type ClientFrame,
  type ServerFrame,
} from '../shared/protocol/frames.js';
import { AckBatcher } from './acks.js';
import { backoffDelayMs, nowDelayMs } from './backoff.js';
import { closeAction, isAuthRefusal, type CloseAction } from './close-policy.js';
import { NotificationDedupe, UnreadTracker } from './dedupe.js';
import { Emitter } from './emitter.js';
import { ackFrame, parseServerFrame } from './frames.js';
import { REPLAY_QUIET_MS, ResumeTracker, type ReplayOutcome } from './resume.js';
import {
  CLIENT_ERROR_CODES,
  type ClientErrorCode,
  type ClientOptions,
  type ClientState,
  type ErrorEvent,
  type NotificationClient,
  type WebSocketConstructor,
  type WebSocketLike,
} from './types.js';

export type WebSocketResolver = (option: WebSocketConstructor | undefined) => Promise<WebSocketConstructor>;

export const DEFAULT_ACK_DELAY_MS = 50;
export const DEFAULT_PING_INTERVAL_MS = 25_000;
export const DEFAULT_PING_TIMEOUT_MS = 10_000;
/** A connection open this long is stable: the next disconnect starts the backoff from its first step again. */
export const STABLE_OPEN_MS = 5_000;
/** close() waits this long for the server's close frame before dropping the socket. */
export const CLOSE_WAIT_MS = 3_000;

const OPEN = 1;
/** Codes the client itself reports when it drops a socket (never sent by the server). */
const LOCAL_CLOSE = { normal: 1000, abnormal: 1006 } as const;

/** One socket and what belongs to it; events of a replaced socket are ignored. */
interface Connection {
  ws: WebSocketLike;
  authenticated: boolean;
  openedAtMs: number;
  /** Its AUTH_OK said the server reads the versions of an ACK (frames.ts ackFrame). */
  ackVersions: boolean;
}

/**
 * The client's state machine: connecting → authenticating → open → reconnecting → connecting …,
 * or closed (close(), a permanent refusal, reconnect: false). One socket at a time; every timer
 * belongs to the current socket or to the wait between two.
 */
export function createClientWith(options: ClientOptions, resolve: WebSocketResolver): NotificationClient {
  if (!options.token && !options.getToken && !options.userId) {
    throw new TypeError('createClient needs token, getToken or (dev mode) userId');
  }
  const reconnect = options.reconnect === false ? undefined : (options.reconnect ?? {});
  const heartbeat = options.heartbeat === false ? undefined : (options.heartbeat ?? {});
  const pingIntervalMs = heartbeat?.intervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const pingTimeoutMs = heartbeat?.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  /**
   * How long getToken() may take before the attempt counts as a token failure: the silence the
   * heartbeat allows a connection, so that no step of connecting can hold the client for ever.
   */
  const tokenTimeoutMs = pingIntervalMs + pingTimeoutMs;

  const emitter = new Emitter((event, err) =>
    report(
      CLIENT_ERROR_CODES.listenerFailed,
      `a '${event}' listener threw: ${err instanceof Error ? err.message : String(err)}`,
    ),
  );
  const dedupe = new NotificationDedupe();
  const unread = new UnreadTracker();
  const resume = new ResumeTracker(options.lastSeq);
  const acks = new AckBatcher(
    options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS,
    options.maxAckBatch ?? DEFAULT_MAX_ACK_BATCH,
    (ids, versions) => send(ackFrame(ids, versions, conn?.ackVersions === true)),
  );

  let state: ClientState = 'connecting';
  let conn: Connection | undefined;
  let attempt = 0;
  let authRefusals = 0;
  let closing: Promise<void> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let deadTimer: ReturnType<typeof setTimeout> | undefined;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  let tokenTimer: ReturnType<typeof setTimeout> | undefined;

  function setState(next: ClientState, code?: number, reason?: string): void {
    state = next;
    emitter.emit('state', {
      state: next,
      ...(code === undefined ? {} : { code }),
      ...(reason === undefined ? {} : { reason }),
    });
  }

  function report(code: ErrorEvent['code'], message: string, ids?: string[]): void {
    emitter.emit('error', { code, message, ...(ids ? { ids } : {}) });
  }

  function send(frame: ClientFrame): boolean {
    const ws = conn?.ws;
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  async function connect(): Promise<void> {
    retryTimer = undefined;
    if (closing) return;
    setState('connecting');
    let token: string | undefined;
    try {
      token = options.getToken ? await fetchToken(options.getToken) : options.token;
      if (options.getToken && (typeof token !== 'string' || token === ''))
        throw new Error('getToken() returned no token');
    } catch (err) {
      if (closing) return;
      report(CLIENT_ERROR_CODES.tokenUnavailable, errorText(err));
      scheduleReconnect('backoff');
      return;
    }
    let Ctor: WebSocketConstructor;
    try {
      Ctor = await resolve(options.WebSocket);
    } catch (err) {
      if (closing) return;
      stop(CLIENT_ERROR_CODES.noWebSocket, errorText(err));
      return;
    }
    if (closing) return;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(options.url);
    } catch (err) {
      // A malformed URL: no attempt can succeed.
      stop(CLIENT_ERROR_CODES.connectionFailed, errorText(err));
      return;
    }
    const current: Connection = { ws, authenticated: false, openedAtMs: 0, ackVersions: false };
    conn = current;
    // Armed now, not at 'open': a server that accepts TCP and never completes the handshake (or a
    // network that drops it) would otherwise hold the socket in CONNECTING until the OS gives up
    // on TCP, minutes later. One window covers the handshake and the AUTH answer together.
    armHeartbeat();
    const auth: AuthFrame = { type: 'AUTH', ...(token ? { token } : { userId: options.userId }) };
    ws.addEventListener('open', () => {
      if (conn !== current || closing) return;
      setState('authenticating');
      send(resume.lastSeq === undefined ? auth : { ...auth, lastSeq: resume.lastSeq });
    });
    ws.addEventListener('message', (event) => {
      if (conn !== current || closing) return;
      onFrame(current, event.data);
    });
    ws.addEventListener('error', (event) => {
      if (conn !== current || closing || current.authenticated) return;
      report(
        CLIENT_ERROR_CODES.connectionFailed,
        event.message ?? (event.error ? errorText(event.error) : `cannot connect to ${options.url}`),
      );
    });
    ws.addEventListener('close', (event) => {
      if (conn !== current) return;
      onClosed(current, event.code ?? LOCAL_CLOSE.abnormal, String(event.reason ?? ''));
    });
  }

  /** getToken() within tokenTimeoutMs: a promise that never settles must not hold 'connecting' for ever. */
  function fetchToken(getToken: () => string | Promise<string>): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (tokenTimer === timer) tokenTimer = undefined;
        reject(new Error(`getToken() did not settle within ${tokenTimeoutMs} ms`));
      }, tokenTimeoutMs);
      tokenTimer = timer;
      // A late answer of a timed-out call must not clear the timer of the next attempt's call.
      const settled = () => {
        clearTimeout(timer);
        if (tokenTimer === timer) tokenTimer = undefined;
      };
      // Inside the executor, so a getToken that throws at once rejects like one that rejects later.
      Promise.resolve(getToken()).then(
        (token) => (settled(), resolve(token)),
        (err: unknown) => (settled(), reject(err)),
      );
    });
  }

  function onFrame(current: Connection, data: unknown): void {
    armHeartbeat();
    const frame = parseServerFrame(data);
    if (!frame) {
      report(CLIENT_ERROR_CODES.badServerFrame, `not a server frame: ${String(data).slice(0, 200)}`);
      return;
    }
    emitter.emit('frame', frame);
    handle(current, frame);
  }

  function handle(current: Connection, frame: ServerFrame): void {
    switch (frame.type) {
      case 'AUTH_OK': {
        current.authenticated = true;
        current.openedAtMs = Date.now();
        current.ackVersions = frame.ackVersions === true;
        authRefusals = 0;
        if (frame.unread !== undefined && frame.unreadVersion !== undefined)
          offerUnread(frame.unread, frame.unreadVersion);
        setState('open');
        acks.opened();
        const done = resume.authenticated(frame);
        if (done) emitter.emit('resume', done);
        else if (resume.awaitsQuiet) armQuiet();
        return;
      }
      case 'NOTIFICATION': {
        const n = frame.notification;
        if (frame.unread !== undefined && frame.unreadVersion !== undefined)
          offerUnread(frame.unread, frame.unreadVersion);
        const done = resume.notification(n.seq);
        if (resume.awaitsQuiet) armQuiet();
        if (dedupe.admit(n.id, n.version)) emitter.emit('notification', n);
        if (done) emitter.emit('resume', done);
        return;
      }
      case 'REPLAY_DONE':
        finishReplay(resume.replayDone(frame));
        return;
      case 'UNREAD':
        offerUnread(frame.count, frame.version);
        return;
      case 'ACKED':
        acks.confirmed(frame.ids);
        return;
      case 'ERROR':
        if (frame.code === ERROR_CODES.notFound && frame.ids) acks.drop(frame.ids);
        else if (frame.code === ERROR_CODES.unavailable) acks.unavailable(frame.ids);
        else if (frame.code === ERROR_CODES.ackBatchTooLarge) acks.shrink();
        report(frame.code, frame.message, frame.ids);
        return;
      case 'PONG':
        return;
    }
  }

  function finishReplay(outcome: ReplayOutcome | undefined): void {
    clearQuiet();
    if (outcome) emitter.emit('resume', outcome);
  }

  function offerUnread(count: number, version: number): void {
    if (unread.offer(count, version)) emitter.emit('unread', { count, version });
  }

  function onClosed(current: Connection, code: number, reason: string): void {
    conn = undefined;
    dropConnectionState();
    if (closing) return;
    if (current.authenticated && Date.now() - current.openedAtMs >= STABLE_OPEN_MS) attempt = 0;
    if (isAuthRefusal(code, reason)) authRefusals += 1;
    const action = closeAction(code, reason, { refreshable: options.getToken !== undefined, authRefusals });
    if (action === 'stop') {
      stop(
        CLIENT_ERROR_CODES.refused,
        `the server refused the connection (${code}${reason ? ` ${reason}` : ''})`,
        code,
        reason,
      );
      return;
    }
    if (!reconnect) {
      setState('closed', code, reason);
      return;
    }
    setState('reconnecting', code, reason);
    scheduleReconnect(action);
  }

  function scheduleReconnect(action: Exclude<CloseAction, 'stop'>): void {
    if (closing) return;
    if (!reconnect) {
      setState('closed');
      return;
    }
    if (state !== 'reconnecting') setState('reconnecting');
    const delay = action === 'now' ? nowDelayMs(reconnect) : backoffDelayMs(attempt, reconnect);
    if (action === 'backoff') attempt += 1;
    retryTimer = setTimeout(() => void connect(), delay);
  }

  /** Permanent: report, close, no reconnect. */
  function stop(code: ClientErrorCode, message: string, closeCode?: number, reason?: string): void {
    report(code, message);
    shutdown();
    closing = Promise.resolve();
    setState('closed', closeCode, reason);
  }

  function dropConnectionState(): void {
    acks.closed();
    resume.disconnected();
    clearHeartbeat();
    clearQuiet();
  }

  function shutdown(): void {
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    if (tokenTimer !== undefined) clearTimeout(tokenTimer);
    retryTimer = tokenTimer = undefined;
    acks.stop();
    clearHeartbeat();
    clearQuiet();
  }

  /** Any frame proves the connection alive; after `pingIntervalMs` of silence a PING asks. */
  function armHeartbeat(): void {
    if (!heartbeat) return;
    clearHeartbeat();
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      // Before AUTH_OK a PING is NOT_AUTHENTICATED; the AUTH answer is awaited instead.
      if (conn?.authenticated) send({ type: 'PING' });
      deadTimer = setTimeout(onHeartbeatTimeout, pingTimeoutMs);
    }, pingIntervalMs);
  }

  function clearHeartbeat(): void {
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    if (deadTimer !== undefined) clearTimeout(deadTimer);
    idleTimer = deadTimer = undefined;
  }

  function onHeartbeatTimeout(): void {
    deadTimer = undefined;
    const current = conn;
    if (!current || closing) return;
    report(
      CLIENT_ERROR_CODES.heartbeatTimeout,
      current.authenticated
        ? `no answer from the server within ${pingIntervalMs + pingTimeoutMs} ms`
        : `the socket did not open and authenticate within ${pingIntervalMs + pingTimeoutMs} ms`,
    );
    // A dead connection may never complete a close handshake: forget it now.
    terminate(current.ws);
    onClosed(current, LOCAL_CLOSE.abnormal, 'heartbeat timeout');
  }

  function armQuiet(): void {
    clearQuiet();
    quietTimer = setTimeout(() => {
      quietTimer = undefined;
      finishReplay(resume.quiet());
    }, REPLAY_QUIET_MS);
  }

  function clearQuiet(): void {
    if (quietTimer !== undefined) clearTimeout(quietTimer);
    quietTimer = undefined;
  }

  function close(): Promise<void> {
    if (closing) return closing;
    acks.flushAll();
    shutdown();
    const current = conn;
    conn = undefined;
    closing = current ? closeSocket(current.ws) : Promise.resolve();
    setState('closed', LOCAL_CLOSE.normal, 'client closed');
    return closing;
  }

  // Started on the next microtask so that listeners attached right after createClient() see
  // the first 'connecting'.
  queueMicrotask(() => void connect());

  return {
    on: (event, listener) => emitter.on(event, listener),
    ack: (id) => {
      // Refused here rather than by the server: one id it rejects makes it refuse the whole ACK
      // frame (BAD_FRAME), the good ids in it included, and the batch would stay owed for ever.
      if (typeof id !== 'string' || id === '' || id.length > MAX_NOTIFICATION_ID_LENGTH) {
        report(
          CLIENT_ERROR_CODES.invalidAckId,
          `ack() ignored ${describeId(id)}: a notification id is a string of 1 to ${MAX_NOTIFICATION_ID_LENGTH} characters`,
        );
        return;
      }
      // The version emitted last: what the application holds. A newer one the server committed
      // meanwhile stays pending there and is emitted next, for an ack of its own.
      acks.add(id, dedupe.version(id));
    },
    close,
    get state() {
      return state;
    },
    get lastSeq() {
      return resume.lastSeq;
    },
    get unread() {
      return unread.current ? { ...unread.current } : undefined;
    },
  };
}

/** Resolves once the socket reports closed, or after CLOSE_WAIT_MS (then the socket is dropped). */
function closeSocket(ws: WebSocketLike): Promise<void> {
  const CLOSED = 3;
  if (ws.readyState === CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      terminate(ws);
      resolve();
    }, CLOSE_WAIT_MS);
    ws.addEventListener('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      ws.close(LOCAL_CLOSE.normal, 'client closed');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

/** `ws` can drop a socket without the close handshake; a browser socket can only be asked to close. */
function terminate(ws: WebSocketLike): void {
  const withTerminate = ws as WebSocketLike & { terminate?: () => void };
  try {
    if (typeof withTerminate.terminate === 'function') withTerminate.terminate();
    else ws.close();
  } catch {
    // Already closed.
  }
}

/** Enough of a bad id to recognise it in a log, never all of a huge string. */
function describeId(id: unknown): string {
  if (typeof id !== 'string') return `a ${id === null ? 'null' : typeof id}`;
  if (id === '') return 'an empty id';
  return `an id of ${id.length} characters (${JSON.stringify(id.slice(0, 16))}…)`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

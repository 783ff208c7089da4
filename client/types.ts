import type { ErrorCode, NotificationBody, ServerFrame } from '../shared/protocol/frames.js';

/**
 * The client's public types (docs/client.md). The frame shapes come from
 * shared/protocol/frames.ts, the same definitions the ws-server builds its frames from.
 */

/** A notification as the socket delivers it. An aggregate that grew comes again: same id, higher `version`. */
export type ClientNotification = NotificationBody;

export type ClientState = 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'closed';

export interface StateEvent {
  state: ClientState;
  /** The close code that led here ('reconnecting', 'closed'), when there was a socket. */
  code?: number;
  reason?: string;
}

export interface UnreadEvent {
  count: number;
  version: number;
}

export interface ResumeEvent {
  /** false: the replay may not be everything missed; page the history API (createHttpClient().history). */
  recovered: boolean;
  /** NOTIFICATION frames received in this replay (duplicates of ones already emitted included). */
  replayed: number;
  /** Unacked notifications the server holds for the user (after `lastSeq`), as it reported them. */
  pending: number;
}

/**
 * Client-side problems, reported on 'error' next to the server's ERROR frames (whose codes are
 * the protocol's ErrorCode).
 */
export const CLIENT_ERROR_CODES = {
  /** No WebSocket implementation: no global WebSocket, no `options.WebSocket`, and `ws` cannot be imported. */
  noWebSocket: 'NO_WEBSOCKET',
  /**
   * `getToken()` threw, returned something that is not a non-empty string, or did not settle
   * within `heartbeat.intervalMs + timeoutMs`; retried with backoff.
   */
  tokenUnavailable: 'TOKEN_UNAVAILABLE',
  /** The socket could not be opened or failed (network, HTTP 503 during a server shutdown). */
  connectionFailed: 'CONNECTION_FAILED',
  /** The server closed the socket for good (a refused token, a policy code); the client stops. */
  refused: 'REFUSED',
  /** The server sent a frame that is not a known JSON frame. */
  badServerFrame: 'BAD_SERVER_FRAME',
  /**
   * No frame came back for a PING within `heartbeat.timeoutMs`, or the socket did not open and
   * get its AUTH_OK within `intervalMs + timeoutMs` of its creation: it is dropped and reopened.
   */
  heartbeatTimeout: 'HEARTBEAT_TIMEOUT',
  /** An event listener threw; the client carries on. */
  listenerFailed: 'LISTENER_FAILED',
  /**
   * ack() got something the server cannot take as a notification id (not a string of 1 to
   * MAX_NOTIFICATION_ID_LENGTH characters); it is ignored and never sent.
   */
  invalidAckId: 'INVALID_ACK_ID',
} as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[keyof typeof CLIENT_ERROR_CODES];

export interface ErrorEvent {
  code: ErrorCode | ClientErrorCode;
  message: string;
  /** The notification ids an ERROR frame named (NOT_FOUND, UNAVAILABLE). */
  ids?: string[];
}

export interface ClientEvents {
  notification: ClientNotification;
  unread: UnreadEvent;
  state: StateEvent;
  resume: ResumeEvent;
  error: ErrorEvent;
  /**
   * Every frame the server sent, parsed, before the client acts on it: repeats the client
   * dedupes, ACKED, PONG included. For tests, benchmarks and debugging, which must see what the
   * server did (a redelivery after an ACKED is a server bug the 'notification' event would hide);
   * apps want 'notification'. Costs nothing without a listener.
   */
  frame: ServerFrame;
}
export type ClientEventName = keyof ClientEvents;

/** The fields the client reads from the events of a WebSocket (open, message, close, error). */
export interface WebSocketEventLike {
  type: string;
  data?: unknown;
  code?: number;
  reason?: string;
  message?: string;
  error?: unknown;
}

/** What the client needs of a WebSocket: the browser's and Node's `ws` both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: WebSocketEventLike) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** Upper bound of the first wait (ms, default 500); each attempt doubles it. */
  initialDelayMs?: number;
  /** Cap of the doubling (ms, default 30000). Each wait is random in [0, min(max, initial·2^n)] ("full jitter"). */
  maxDelayMs?: number;
}

export interface HeartbeatOptions {
  /** A PING after this long without a frame from the server (ms, default 25000). */
  intervalMs?: number;
  /**
   * Without any frame this long after the PING the connection is dead: reopened (ms, default
   * 10000). intervalMs + timeoutMs also bounds a new socket's handshake and AUTH answer, and
   * getToken() (that one even with `heartbeat: false`).
   */
  timeoutMs?: number;
}

export interface ClientOptions {
  /** ws://host:port (wss:// behind TLS). */
  url: string;
  /** A bearer token (JWT, `sub` = userId). A static token cannot be refreshed: after it expires the client stops. */
  token?: string;
  /**
   * Called before every (re)connect; the fresh token survives expiry (4401 "token expired"). Not
   * settled within heartbeat intervalMs + timeoutMs: TOKEN_UNAVAILABLE, retried with backoff.
   */
  getToken?: () => string | Promise<string>;
  /** Dev mode only (WS_AUTH_MODE=dev): AUTH with a bare userId. */
  userId?: string;
  /** Resume point from a previous session: replay only unacked notifications after it. */
  lastSeq?: number;
  /** Acks are batched into one ACK frame per this delay (ms, default 50). */
  ackDelayMs?: number;
  /** At most this many ids per ACK frame (default 500, the server's WS_MAX_ACK_BATCH). */
  maxAckBatch?: number;
  /** false: never reconnect on its own. */
  reconnect?: false | ReconnectOptions;
  /** false: no app-level PING (the server's protocol pings are answered by the WebSocket itself). */
  heartbeat?: false | HeartbeatOptions;
  /** Default: globalThis.WebSocket, else Node's `ws` (imported when first needed). */
  WebSocket?: WebSocketConstructor;
}

export type Listener<T> = (event: T) => void;

export interface NotificationClient {
  /** Subscribes; returns the unsubscribe function. */
  on<K extends ClientEventName>(event: K, listener: Listener<ClientEvents[K]>): () => void;
  /**
   * Marks a notification received, at the version of it emitted last (a newer one the server
   * committed meanwhile stays pending and is emitted for an ack of its own). Batched; kept across
   * reconnects until the server confirms it. An id the server would refuse is ignored and
   * reported as an 'error' INVALID_ACK_ID.
   */
  ack(id: string): void;
  /** Stops everything (no reconnect); resolves once the socket is closed. */
  close(): Promise<void>;
  readonly state: ClientState;
  /** The resume point the next AUTH sends (docs/client.md "lastSeq"); undefined before any. */
  readonly lastSeq: number | undefined;
  /** The newest unread count seen (highest version); undefined before any. */
  readonly unread: UnreadEvent | undefined;
}

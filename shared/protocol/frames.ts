import type { Notification } from '../notification.js';

/**
 * The WebSocket protocol's vocabulary: every frame either side may send, the stable error codes
 * and the close codes. The server (ws-server/protocol.ts, which parses and builds frames) and
 * the client (client/) both import this file, so a frame change breaks the client's build, not
 * its users. It must stay free of runtime dependencies (the client runs in browsers): type-only
 * imports and plain constants only. docs/protocol.md describes the same frames for humans.
 */

export const CLOSE = {
  goingAway: 1001,
  policyViolation: 1008,
  frameTooBig: 1009,
  tryAgainLater: 1013,
  authFailed: 4401,
} as const;
export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/** The reason of a 4401 close for a token that expired on an open socket (reconnect with a fresh one). */
export const TOKEN_EXPIRED_REASON = 'token expired';

export const ERROR_CODES = {
  badJson: 'BAD_JSON',
  badFrame: 'BAD_FRAME',
  unknownType: 'UNKNOWN_TYPE',
  notAuthenticated: 'NOT_AUTHENTICATED',
  alreadyAuthenticated: 'ALREADY_AUTHENTICATED',
  ackBatchTooLarge: 'ACK_BATCH_TOO_LARGE',
  notFound: 'NOT_FOUND',
  unavailable: 'UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * Longest notification id an ACK may carry; a longer one makes the server refuse the whole frame
 * (BAD_FRAME). The pipeline's ids are uuid v7 (36 characters); 64 leaves room for another id
 * scheme while keeping the largest ACK frame small (shared/ack-frame.ts; it was 128, which made a
 * full batch twice as large as any real one). Here, not there, because the client checks it too.
 */
export const MAX_NOTIFICATION_ID_LENGTH = 64;

/** Default WS_MAX_ACK_BATCH: the most ids one ACK frame may carry unless the server says otherwise. */
export const DEFAULT_MAX_ACK_BATCH = 500;

/**
 * Highest version an ACK may name (`version` / `versions`); a larger one makes the server refuse
 * the whole frame (BAD_FRAME). A version counts an aggregate's actors, so any real one is far
 * below; bounded so that the largest ACK frame has a size (shared/ack-frame.ts), at the largest
 * integer JSON numbers carry exactly. Here, not there, because the client checks it too.
 */
export const MAX_NOTIFICATION_VERSION = Number.MAX_SAFE_INTEGER;

export type AuthFrame = { type: 'AUTH'; token?: string; userId?: string; lastSeq?: number };
/**
 * `versions` (optional, parallel to `notificationIds`): the version of each id the client holds,
 * null where it does not know. An ACK settles that version only: a newer one the server committed
 * meanwhile (a grown aggregate) stays pending (docs/protocol.md). On the wire a single id may
 * also come as `notificationId` with an optional `version`; the server reads it as this.
 */
export type AckFrame = { type: 'ACK'; notificationIds: string[]; versions?: Array<number | null> };
export type PingFrame = { type: 'PING' };
export type ClientFrame = AuthFrame | AckFrame | PingFrame;

export type NotificationBody = Pick<
  Notification,
  'id' | 'seq' | 'type' | 'message' | 'actors' | 'actorCount' | 'objectId' | 'priority' | 'createdAt' | 'version'
>;

/**
 * `unread` / `unreadVersion` (AUTH_OK, NOTIFICATION) and `count` / `version` (UNREAD) are the
 * user's live unread count (shared/unread.ts); the highest version a client has seen is current.
 * AUTH_OK leaves them out while the count is being rebuilt from MongoDB; an UNREAD frame follows.
 *
 * AUTH_OK's `pending` / `recovered` describe what Redis buffers; `catchingUp: true` says MongoDB
 * may hold older undelivered notifications: they follow as NOTIFICATION frames, then REPLAY_DONE
 * gives the final `pending` / `recovered` over both (docs/protocol.md).
 */
export type AuthOkFrame = {
  type: 'AUTH_OK';
  userId: string;
  pending: number;
  recovered: boolean;
  catchingUp: boolean;
  /**
   * The user's latest seq when the replay was read (below any do-not-disturb holds back): after
   * a whole replay that says `recovered: true`, nothing up to it is missing. Absent from servers
   * before it was added.
   */
  seq?: number;
  /**
   * Present (true) when the AUTH's `lastSeq` was above the user's latest seq, which only a Redis
   * that lost the user's data makes possible (its seq counter started again): the server ignored
   * it and replays everything pending, as without it. The client drops its resume point; after
   * this replay, whole and recovered, `seq` is the new one.
   */
  resumeReset?: true;
  unread?: number;
  unreadVersion?: number;
  /**
   * True: this server reads the versions of an ACK (AckFrame `versions`). A client sends them only
   * to a server that says so: a server before them refuses a frame with an unknown field whole
   * (BAD_FRAME), so every ack would be lost during a rolling deploy. Absent from older servers.
   */
  ackVersions?: true;
};
/** `seq`: as AUTH_OK's, kept below what the MongoDB half held back too (absent from older servers). */
export type ReplayDoneFrame = { type: 'REPLAY_DONE'; pending: number; recovered: boolean; seq?: number };
export type NotificationFrame = {
  type: 'NOTIFICATION';
  notification: NotificationBody;
  unread?: number;
  unreadVersion?: number;
};
export type UnreadFrame = { type: 'UNREAD'; count: number; version: number };
export type AckedFrame = { type: 'ACKED'; ids: string[] };
export type ErrorFrame = { type: 'ERROR'; code: ErrorCode; message: string; ids?: string[] };
export type PongFrame = { type: 'PONG' };

export type ServerFrame =
  AuthOkFrame | ReplayDoneFrame | NotificationFrame | UnreadFrame | AckedFrame | ErrorFrame | PongFrame;
export type ServerFrameType = ServerFrame['type'];

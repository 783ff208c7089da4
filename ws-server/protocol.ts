import Joi from 'joi';
import { MAX_NOTIFICATION_ID_LENGTH } from '../shared/ack-frame.js';
import { MAX_NOTIFICATION_VERSION } from '../shared/protocol/frames.js';
import { clipped } from '../shared/client-text.js';
import type { Notification } from '../shared/notification.js';
import type { UnreadState } from '../shared/unread.js';
import { ERROR_CODES, type ClientFrame, type ErrorCode, type ServerFrame } from '../shared/protocol/frames.js';

/**
 * Parsing and building of the WebSocket protocol's frames. The frame types, error codes and
 * close codes themselves live in shared/protocol/frames.ts, which the client (client/) imports
 * too; they are re-exported here so the server's modules keep one import.
 */
export { CLOSE, ERROR_CODES } from '../shared/protocol/frames.js';
export type { AckFrame, ClientFrame, ErrorCode, NotificationBody, ServerFrame } from '../shared/protocol/frames.js';

/** A frame the client got wrong: answered with an ERROR frame, the socket stays open. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const id = () => Joi.string().min(1).max(128);
// Shorter than a user id: WS_MAX_FRAME_BYTES must hold WS_MAX_ACK_BATCH of them (shared/ack-frame.ts).
const notificationId = () => Joi.string().min(1).max(MAX_NOTIFICATION_ID_LENGTH);
// Bounded so the largest ACK has a size WS_MAX_FRAME_BYTES can be checked against (shared/ack-frame.ts).
const version = () => Joi.number().integer().min(1).max(MAX_NOTIFICATION_VERSION);

const authSchema = Joi.object({
  type: Joi.string().valid('AUTH').required(),
  token: Joi.string().min(1).max(4096),
  userId: id(),
  lastSeq: Joi.number().integer().min(0),
});

// Built once per limit, not per frame: compiling a Joi schema costs far more than validating
// with it, and every ACK frame came through here (docs/performance.md).
const ackSchemas = new Map<number, Joi.ObjectSchema>();
function ackSchema(maxAckBatch: number): Joi.ObjectSchema {
  let schema = ackSchemas.get(maxAckBatch);
  if (!schema) {
    schema = Joi.object({
      type: Joi.string().valid('ACK').required(),
      notificationId: notificationId(),
      notificationIds: Joi.array().items(notificationId()).min(1).max(maxAckBatch),
      // The version of each id the client holds (null: it does not know); both optional, so a
      // client that sends none keeps the ACK of ids alone (docs/protocol.md).
      version: version(),
      versions: Joi.array().items(version().allow(null)).max(maxAckBatch),
    })
      .xor('notificationId', 'notificationIds')
      .with('version', 'notificationId')
      .with('versions', 'notificationIds');
    ackSchemas.set(maxAckBatch, schema);
  }
  return schema;
}

const pingSchema = Joi.object({ type: Joi.string().valid('PING').required() });

export interface ParseLimits {
  maxAckBatch: number;
}

/** Turns one text frame into a typed client frame, or throws a ProtocolError with its code. */
export function parseClientFrame(raw: string, limits: ParseLimits): ClientFrame {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    throw new ProtocolError(ERROR_CODES.badJson, 'frame is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ProtocolError(ERROR_CODES.badFrame, 'frame must be a JSON object with a "type"');
  }
  const type = (data as { type?: unknown }).type;
  switch (type) {
    case 'AUTH':
      return validate(authSchema, data) as ClientFrame;
    case 'ACK': {
      const ids = (data as { notificationIds?: unknown }).notificationIds;
      if (Array.isArray(ids) && ids.length > limits.maxAckBatch) {
        throw new ProtocolError(ERROR_CODES.ackBatchTooLarge, `at most ${limits.maxAckBatch} ids per ACK`);
      }
      const ack = validate(ackSchema(limits.maxAckBatch), data) as {
        notificationId?: string;
        notificationIds?: string[];
        version?: number;
        versions?: Array<number | null>;
      };
      if (ack.notificationIds) {
        if (ack.versions && ack.versions.length !== ack.notificationIds.length) {
          // Parallel lists that do not line up name no version for certain: refused, never guessed.
          throw new ProtocolError(
            ERROR_CODES.badFrame,
            `"versions" must have one entry per notification id (${ack.notificationIds.length}), null where unknown`,
          );
        }
        return {
          type: 'ACK',
          notificationIds: ack.notificationIds,
          ...(ack.versions ? { versions: ack.versions } : {}),
        };
      }
      return {
        type: 'ACK',
        notificationIds: [ack.notificationId as string],
        ...(ack.version === undefined ? {} : { versions: [ack.version] }),
      };
    }
    case 'PING':
      return validate(pingSchema, data) as ClientFrame;
    default:
      throw new ProtocolError(
        ERROR_CODES.unknownType,
        `unknown frame type ${quoted(type)}; expected AUTH, ACK or PING`,
      );
  }
}

function validate(schema: Joi.ObjectSchema, data: unknown): unknown {
  const { value, error } = schema.validate(data, { abortEarly: true, convert: false });
  if (!error) return value;
  // Joi names a field it does not know by its key, which the client chose: clipped like a type.
  const detail = error.details[0];
  if (detail?.type === 'object.unknown') {
    throw new ProtocolError(ERROR_CODES.badFrame, `field ${quoted(detail.context?.key)} is not allowed`);
  }
  // Every other message names a field of the schema and a rule, never the value it broke.
  throw new ProtocolError(ERROR_CODES.badFrame, error.message);
}

/**
 * A client's value as an ERROR names it: JSON, clipped (shared/client-text.ts). Quoted whole, a
 * 60 KB `type` came back as a 60 KB ERROR to a socket that had not even authenticated: the
 * server as an echo, which it must not be before AUTH_OK (docs/security.md).
 */
function quoted(value: unknown): string {
  return clipped(JSON.stringify(value ?? null));
}

/**
 * The notification travels nested: its own `type` (LIKE, SECURITY, ...) would otherwise collide
 * with the frame's `type`.
 */
export function notificationFrame(n: Notification, unread?: UnreadState): ServerFrame {
  return {
    type: 'NOTIFICATION',
    ...(unread ? { unread: unread.count, unreadVersion: unread.version } : {}),
    notification: {
      id: n.id,
      seq: n.seq,
      type: n.type,
      message: n.message,
      actors: n.actors,
      actorCount: n.actorCount,
      objectId: n.objectId,
      priority: n.priority,
      createdAt: n.createdAt,
      version: n.version,
    },
  };
}

export function unreadFrame(unread: UnreadState): ServerFrame {
  return { type: 'UNREAD', count: unread.count, version: unread.version };
}

export function errorFrame(code: ErrorCode, message: string, ids?: string[]): ServerFrame {
  return ids ? { type: 'ERROR', code, message, ids } : { type: 'ERROR', code, message };
}

import type { ServerFrame, ServerFrameType } from '../shared/protocol/frames.js';

const SERVER_FRAME_TYPES: ReadonlySet<ServerFrameType> = new Set<ServerFrameType>([
  'AUTH_OK',
  'REPLAY_DONE',
  'NOTIFICATION',
  'UNREAD',
  'ACKED',
  'ERROR',
  'PONG',
]);

/**
 * A server frame from the socket's message data, or undefined when it is not one. The server is
 * trusted to build its frames from the same definitions (shared/protocol/frames.ts), so only
 * the envelope and the fields the client relies on are checked, not every field.
 */
export function parseServerFrame(data: unknown): ServerFrame | undefined {
  if (typeof data !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const frame = value as {
    type?: unknown;
    notification?: { id?: unknown; seq?: unknown; version?: unknown };
    ids?: unknown;
    seq?: unknown;
  };
  if (!SERVER_FRAME_TYPES.has(frame.type as ServerFrameType)) return undefined;
  if (frame.type === 'NOTIFICATION') {
    const n = frame.notification;
    if (!n || typeof n.id !== 'string' || typeof n.seq !== 'number' || typeof n.version !== 'number') return undefined;
  }
  if (frame.type === 'ACKED' && !Array.isArray(frame.ids)) return undefined;
  // The resume point is taken from it: anything but a whole number would make lastSeq unusable.
  if (
    frame.type === 'AUTH_OK' &&
    frame.seq !== undefined &&
    !(Number.isSafeInteger(frame.seq) && (frame.seq as number) >= 0)
  )
    return undefined;
  return value as ServerFrame;
}

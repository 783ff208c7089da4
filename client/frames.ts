import {
  MAX_NOTIFICATION_VERSION,
  type AckFrame,
  type ServerFrame,
  type ServerFrameType,
} from '../shared/protocol/frames.js';

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

/**
 * The ACK frame of `ids`, naming the version of each the client holds (`versions`, null where
 * unknown) when the server reads versions (AUTH_OK `ackVersions`): it then settles those versions
 * only, and a newer one it committed meanwhile stays pending and comes again. To a server before
 * versions, or with none known, the ids alone, as before: such a server refuses a frame with a
 * field it does not know whole. A version the server would refuse (not a whole number from 1 to
 * MAX_NOTIFICATION_VERSION) is sent as null rather than lose the frame.
 */
export function ackFrame(
  ids: string[],
  versions: ReadonlyArray<number | null>,
  serverReadsVersions: boolean,
): AckFrame {
  const named = versions.map((v) =>
    v !== null && Number.isSafeInteger(v) && v >= 1 && v <= MAX_NOTIFICATION_VERSION ? v : null,
  );
  if (!serverReadsVersions || named.every((v) => v === null)) return { type: 'ACK', notificationIds: ids };
  return { type: 'ACK', notificationIds: ids, versions: named };
}

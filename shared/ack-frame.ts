/**
 * The size of the largest ACK frame the WebSocket protocol allows. It lives in shared/ (not in
 * ws-server/protocol.ts, which imports it) because the config checks WS_MAX_ACK_BATCH against
 * WS_MAX_FRAME_BYTES at load time and shared/ must not import a service.
 */

import { MAX_NOTIFICATION_ID_LENGTH, MAX_NOTIFICATION_VERSION } from './protocol/frames.js';

// Defined with the frames (the client checks it too); re-exported for the server's existing imports.
export { MAX_NOTIFICATION_ID_LENGTH };

/** `{"type":"ACK","notificationIds":[],"versions":[]}`: everything around the ids and versions. */
const ENVELOPE_BYTES = JSON.stringify({ type: 'ACK', notificationIds: [], versions: [] }).length;

/** The longest version an ACK may carry, as JSON writes it (a null, for an unknown one, is shorter). */
const VERSION_BYTES = String(MAX_NOTIFICATION_VERSION).length;

/**
 * Bytes of `{"type":"ACK","notificationIds":["<id>",…],"versions":[<version>,…]}` with `ids` ids
 * of `idLength` characters and each version the highest allowed, compact JSON as clients send
 * it: the largest ACK, since a frame without versions, or with null ones, is shorter. An id
 * counts as its characters plus two quotes and a comma between ids: true for ids that need no
 * JSON escape, as uuids and every id the pipeline issues (an id that needs escapes is not one the
 * server can find anyway).
 */
export function ackFrameBytes(ids: number, idLength = MAX_NOTIFICATION_ID_LENGTH): number {
  if (ids <= 0) return ENVELOPE_BYTES;
  return ENVELOPE_BYTES + ids * (idLength + 2) + (ids - 1) + ids * VERSION_BYTES + (ids - 1);
}

import type { Notification } from '../shared/notification.js';
import type { PreferenceStore } from '../shared/preferences.js';
import type { Delivery } from './delivery.js';
import { holdRule } from './replay.js';
import type { Session } from './session.js';

export interface StaleAckDeps {
  delivery: Delivery;
  preferences: PreferenceStore;
}

/**
 * An ACK named an older version than the buffer holds (`newer`: a grown aggregate committed after
 * the client got the old one; shared/buffer-ack.lua 'stale-version'). Nothing was acked: the newer
 * version stays pending, and the socket that sent the ACK gets it unless it holds it in flight
 * already (Delivery.ackedOlder), with do-not-disturb applied as to a replay. The client's ACK is
 * still answered ACKED (connection.ts): that ack is done with, and the newer version asks for one
 * of its own.
 *
 * The user's preferences are read only when a newer version is not in flight on this socket yet
 * (a Redis read, MongoDB behind it at most MONGO_FALLBACK_WAIT_MS): the frame's ACK script stays
 * one call, and the usual stale ACK, one that crossed the newer version's push, costs nothing.
 */
export async function sendNewerVersions(
  deps: StaleAckDeps,
  session: Session,
  userId: string,
  newer: Notification[],
): Promise<void> {
  const missing = deps.delivery.notHeldInFlight(session, newer);
  if (missing.length === 0) return;
  const held = holdRule(await deps.preferences.read(userId), Date.now());
  if (!session.open) return;
  deps.delivery.ackedOlder(session, missing, held);
}

import type { AckFrame } from './protocol.js';
import type { Session } from './session.js';

/**
 * Which version of each id an ACK frame settles (shared/buffer-ack.lua leaves a newer buffered
 * one pending). The frame's own version when the client sent one: it names what the client
 * holds. Else the version this socket last sent the id at, while it holds the id in flight: a
 * client before versions most likely acks what it was sent last. Else unknown (undefined), and
 * the ACK settles whatever version is buffered, as before versions.
 *
 * An id twice in one frame with two versions settles the higher: the client holds it.
 */
export function ackVersions(frame: AckFrame, session: Session): (id: string) => number | undefined {
  const sent = new Map<string, number>();
  frame.notificationIds.forEach((id, i) => {
    const version = frame.versions?.[i];
    if (version === null || version === undefined) return;
    const seen = sent.get(id);
    if (seen === undefined || version > seen) sent.set(id, version);
  });
  return (id) => sent.get(id) ?? session.inFlight.get(id)?.notification.version;
}

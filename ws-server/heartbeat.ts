import type { Session } from './session.js';

/**
 * Protocol-level pings: a socket that has not answered the previous ping by the next tick is
 * dead (a vanished phone, a half-open TCP connection) and is terminated, which frees its slot
 * and its in-flight state; its notifications stay pending for the next connection.
 */
export function startHeartbeat(
  sessions: () => Iterable<Session>,
  intervalMs: number,
  onDead: (s: Session) => void,
): () => void {
  const timer = setInterval(() => {
    for (const session of sessions()) {
      // Not read while the frame window is full (frame-window.ts): its pong may be unread, not missing.
      if (session.ws.isPaused) continue;
      if (!session.alive) {
        onDead(session);
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

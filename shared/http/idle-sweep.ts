import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Share of the connection cap from which idle keep-alive connections are closed. Below it an idle
 * socket keeps its 65 s (a client reusing it saves a handshake); near the cap a new client needs
 * the slot more than an idle one does.
 */
const IDLE_SWEEP_SHARE = 0.9;
/** At most one sweep this often, so a flood of connections does not make each of them walk the list. */
export const IDLE_SWEEP_INTERVAL_MS = 500;
/** Emitted on the server with the number of connections a sweep closed (reportDrops logs it). */
export const IDLE_SWEEP_EVENT = 'idleConnectionsClosed';

/**
 * Returns the nudge a server calls whenever its connection count may have risen (a connection,
 * a drop) or a connection may have become idle (a response finished). At or above 90 % of
 * `maxConnections` it runs Node's `closeIdleConnections()`, at most once per
 * IDLE_SWEEP_INTERVAL_MS, the nudges in between folded into one sweep at the interval's end:
 * without it one client could hold the whole cap for 65 s per connection by sending one request
 * on each and going quiet, and there is no per-address cap to stop it (behind Railway's proxy
 * every connection comes from the proxy). `closeIdleConnections()` leaves a connection whose
 * request is still arriving or still being answered alone, and an upgraded WebSocket is no
 * longer in the server's HTTP connection list at all.
 */
export function idleSweeper(server: Server, sockets: ReadonlySet<Socket>, maxConnections: number): () => void {
  const highWater = Math.max(1, Math.floor(maxConnections * IDLE_SWEEP_SHARE));
  let lastSweepMs = -Infinity;
  let pending: NodeJS.Timeout | undefined;

  const sweep = () => {
    pending = undefined;
    if (sockets.size < highWater) return;
    lastSweepMs = performance.now();
    const before = open(sockets);
    server.closeIdleConnections();
    const closed = before - open(sockets);
    if (closed > 0) server.emit(IDLE_SWEEP_EVENT, closed);
  };

  return () => {
    if (sockets.size < highWater || pending) return;
    // Never inside the caller's own event: a response's 'close' runs before Node has let go of it.
    pending = setTimeout(sweep, Math.max(0, lastSweepMs + IDLE_SWEEP_INTERVAL_MS - performance.now()));
    pending.unref();
  };
}

/** Sockets not destroyed yet: `destroy()` marks one at once, its 'close' comes a tick later. */
function open(sockets: ReadonlySet<Socket>): number {
  let n = 0;
  for (const socket of sockets) if (!socket.destroyed) n += 1;
  return n;
}

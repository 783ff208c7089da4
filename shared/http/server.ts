import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface HttpServer {
  server: Server;
  port: number;
  /**
   * Stops accepting, lets in-flight requests finish, then drops idle keep-alive sockets; whatever
   * is still open after `graceMs` (default 2 s) is destroyed.
   */
  close(graceMs?: number): Promise<void>;
}

/** `backlog`: connections the kernel queues before they are accepted (Node's default, 511, if omitted). */
export async function listen(handler: RequestListener, port: number, host: string, backlog?: number): Promise<HttpServer> {
  const server = createServer(handler);
  // Idle keep-alive sockets outlive the client's and the proxy's (60 s on most load balancers):
  // with Node's 5 s default the server closes a socket just as a client reuses it, and that
  // request fails with "socket hang up" although the server never saw it.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ...(backlog === undefined ? {} : { backlog }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: (graceMs = 2000) => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A client holding a keep-alive socket open must not stall shutdown forever.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, graceMs).unref();
      });
      return closing;
    },
  };
}

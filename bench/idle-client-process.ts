import { createClient, type NotificationClient } from '../client/index.js';
import { signUserToken } from '../shared/auth/jwt.js';
import type { IdleChildMessage, IdleParentMessage } from './idle-fleet.js';
import { benchWebSocket } from './websocket.js';

/**
 * One child of the idle fleet (bench/idle-fleet.ts): opens its share of the connections
 * scenario's sockets on the project's client (client/index.ts), token AUTH each, then holds them
 * without a frame until told to close: no PING (the server's protocol pings keep them alive), no
 * reconnect (a socket the server closes is counted, not replaced). A process of its own because
 * one process cannot hold 20,000 sockets (RLIMIT_NOFILE).
 */

const HANDSHAKE_TIMEOUT_MS = 20_000;
// A server at its fd limit leaves some handshakes unanswered: fail them instead of waiting forever.
const WebSocket = benchWebSocket({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });

const clients: NotificationClient[] = [];
let authed = 0;
let closedByServer = 0;

function send(message: IdleChildMessage): void {
  process.send?.(message);
}

async function connectOne(port: number, token: string): Promise<void> {
  const client = createClient({ url: `ws://127.0.0.1:${port}/`, token, WebSocket, reconnect: false, heartbeat: false });
  clients.push(client);
  return new Promise((resolve, reject) => {
    let ok = false;
    let lastError = '';
    client.on('error', (e) => (lastError = e.message));
    client.on('state', ({ state, code }) => {
      if (state === 'open' && !ok) {
        ok = true;
        authed++;
        resolve();
      } else if (state === 'closed') {
        if (!ok) return reject(new Error(`closed before AUTH_OK (code ${code})${lastError ? `: ${lastError}` : ''}`));
        authed--;
        if (code !== 1000 && code !== 1005) closedByServer++;
      }
    });
  });
}

async function connectAll(port: number, secret: string, userIds: string[], concurrency: number): Promise<void> {
  const tokens = await Promise.all(userIds.map((id) => signUserToken(id, secret, 24 * 3600)));
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++;
      await connectOne(port, tokens[i] ?? '').catch((err: unknown) =>
        failures.push(`${userIds[i]}: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  send({ type: 'connected', authed, failures: failures.length, firstFailure: failures[0] ?? null });
}

async function closeAll(): Promise<void> {
  await Promise.all(clients.map((c) => c.close()));
  process.exit(0);
}

process.on('message', (message: IdleParentMessage) => {
  if (message.type === 'connect') void connectAll(message.port, message.secret, message.userIds, message.concurrency);
  else if (message.type === 'count') send({ type: 'count', open: authed, closedByServer });
  else void closeAll();
});
send({ type: 'ready' });

import { WebSocket } from 'ws';
import { signUserToken } from '../shared/auth/jwt.js';
import type { IdleChildMessage, IdleParentMessage } from './idle-fleet.js';

/**
 * One child of the idle fleet (bench/idle-fleet.ts): opens its share of the connections
 * scenario's sockets, token AUTH each, then holds them without a frame until told to close.
 * A process of its own because one process cannot hold 20,000 sockets (RLIMIT_NOFILE).
 */

const HANDSHAKE_TIMEOUT_MS = 20_000;

const sockets: WebSocket[] = [];
let authed = 0;
let closedByServer = 0;

function send(message: IdleChildMessage): void {
  process.send?.(message);
}

function connectOne(port: number, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // A server at its fd limit leaves some handshakes unanswered: fail them instead of waiting forever.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    let ok = false;
    sockets.push(ws);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'AUTH', token })));
    ws.on('message', (data) => {
      if (ok) return;
      const frame = JSON.parse(String(data)) as { type: string };
      if (frame.type === 'AUTH_OK') {
        ok = true;
        authed++;
        resolve();
      }
    });
    ws.on('close', (code) => {
      if (!ok) return reject(new Error(`closed before AUTH_OK (code ${code})`));
      authed--;
      if (code !== 1000 && code !== 1005) closedByServer++;
    });
    ws.on('error', (err) => {
      if (!ok) reject(err);
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
      await connectOne(port, tokens[i] ?? '').catch((err: unknown) => failures.push(`${userIds[i]}: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  send({ type: 'connected', authed, failures: failures.length, firstFailure: failures[0] ?? null });
}

async function closeAll(): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close(1000);
        }),
    ),
  );
  process.exit(0);
}

process.on('message', (message: IdleParentMessage) => {
  if (message.type === 'connect') void connectAll(message.port, message.secret, message.userIds, message.concurrency);
  else if (message.type === 'count') send({ type: 'count', open: authed, closedByServer });
  else void closeAll();
});
send({ type: 'ready' });

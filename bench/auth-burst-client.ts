import { createClient, type NotificationClient } from '../client/index.js';
import { signUserToken } from '../shared/auth/jwt.js';
import { benchWebSocket } from './websocket.js';

/**
 * The AUTH half of `auth-burst`, in a process of its own: N clients (client/index.ts) started at
 * once, each timed from createClient to AUTH_OK (state 'open'), nothing else running here. The
 * harness process (load generator, tracker, samplers, the fleet's ack timers) added 100-250 ms
 * to the same burst, which is the harness's cost, not the server's. Prints one JSON line:
 * { latenciesMs, failures }.
 *
 *   node --import tsx bench/auth-burst-client.ts <wsPort> <jwtSecret> <userPrefix> <count>
 */
const [port, secret, prefix, countArg] = process.argv.slice(2);
const count = Number(countArg);
const tokens = await Promise.all(
  Array.from({ length: count }, (_, i) => signUserToken(`${prefix}${i}`, secret!, 3600)),
);
const WebSocket = benchWebSocket();
const latenciesMs: number[] = [];
const failures: string[] = [];
const clients: NotificationClient[] = [];
await Promise.all(
  tokens.map(
    (token) =>
      new Promise<void>((resolve) => {
        const startedAt = performance.now();
        // One attempt, no PING: a refusal is a result here, not something to retry.
        const client = createClient({
          url: `ws://127.0.0.1:${port}/`,
          token,
          WebSocket,
          reconnect: false,
          heartbeat: false,
        });
        clients.push(client);
        let lastError = '';
        let done = false;
        client.on('error', (e) => (lastError = e.message));
        client.on('state', ({ state, code }) => {
          // Only the first outcome counts: the close at the end is not a failure.
          if (done || (state !== 'open' && state !== 'closed')) return;
          done = true;
          if (state === 'open') latenciesMs.push(performance.now() - startedAt);
          else failures.push(lastError || `closed before AUTH_OK (code ${code})`);
          resolve();
        });
      }),
  ),
);
await Promise.all(clients.map((c) => c.close()));
process.stdout.write(`${JSON.stringify({ latenciesMs, failures })}\n`);

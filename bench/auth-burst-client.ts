import { WebSocket } from 'ws';
import { signUserToken } from '../shared/auth/jwt.js';

/**
 * The AUTH half of `auth-burst`, in a process of its own: N sockets opened at once, each timed
 * from `new WebSocket` to AUTH_OK, nothing else running here. The harness process (load
 * generator, tracker, samplers, the fleet's ACK timer) added 100-250 ms to the same burst, which
 * is the harness's cost, not the server's. Prints one JSON line: { latenciesMs, failures }.
 *
 *   node --import tsx bench/auth-burst-client.ts <wsPort> <jwtSecret> <userPrefix> <count>
 */
const [port, secret, prefix, countArg] = process.argv.slice(2);
const count = Number(countArg);
const tokens = await Promise.all(Array.from({ length: count }, (_, i) => signUserToken(`${prefix}${i}`, secret!, 3600)));
const latenciesMs: number[] = [];
const failures: string[] = [];
const sockets: WebSocket[] = [];
await Promise.all(
  tokens.map(
    (token) =>
      new Promise<void>((resolve) => {
        const startedAt = performance.now();
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        sockets.push(ws);
        ws.on('open', () => ws.send(JSON.stringify({ type: 'AUTH', token })));
        ws.on('message', (data) => {
          if ((JSON.parse(String(data)) as { type: string }).type !== 'AUTH_OK') return;
          latenciesMs.push(performance.now() - startedAt);
          resolve();
        });
        ws.on('close', (code) => {
          failures.push(`closed before AUTH_OK (code ${code})`);
          resolve();
        });
        ws.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
      }),
  ),
);
for (const ws of sockets) ws.terminate();
process.stdout.write(`${JSON.stringify({ latenciesMs, failures })}\n`);

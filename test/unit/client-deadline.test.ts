import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { createClient, type ClientState, type ErrorEvent } from '../../client/index.js';
import { scriptedSocket } from '../helpers/scripted-socket.js';
import { eventually } from '../helpers/wait.js';

/** intervalMs + timeoutMs: the deadline of getToken() and of the socket's open + AUTH_OK. */
const heartbeat = { intervalMs: 100, timeoutMs: 100 };
const DEADLINE_MS = heartbeat.intervalMs + heartbeat.timeoutMs;
const reconnect = { initialDelayMs: 10, maxDelayMs: 10 };

describe('client: deadlines before the socket is open', () => {
  it('reports a getToken() that never settles as TOKEN_UNAVAILABLE after the deadline and tries again', async (t: TestContext) => {
    const calls: number[] = [];
    const ws = scriptedSocket();
    const client = createClient({
      url: 'ws://test',
      getToken: () => (calls.push(performance.now()), new Promise<string>(() => {})),
      WebSocket: ws.Ctor,
      heartbeat,
      reconnect,
    });
    t.after(() => client.close());
    const errors: ErrorEvent[] = [];
    const states: ClientState[] = [];
    client.on('error', (e) => errors.push(e));
    client.on('state', (s) => states.push(s.state));

    await eventually(() => calls.length >= 2 || undefined, { what: 'a second getToken() call', timeoutMs: 3000 });
    assert.equal(errors[0]?.code, 'TOKEN_UNAVAILABLE');
    assert.match(errors[0]!.message, new RegExp(`within ${DEADLINE_MS} ms`));
    // A timer may fire a fraction of a millisecond early against the clock it is measured with.
    assert.ok(calls[1]! - calls[0]! >= DEADLINE_MS - 2, 'not given up on before the deadline');
    assert.deepEqual(states.slice(0, 3), ['connecting', 'reconnecting', 'connecting']);
    assert.equal(ws.sockets.length, 0, 'no socket without a token');
  });

  it('drops a socket whose WebSocket handshake never completes and reconnects', async (t: TestContext) => {
    // Accepts TCP and reads the upgrade request, never answers: the socket stays CONNECTING.
    const connections: { socket: Socket; bytes: number; closed: boolean }[] = [];
    const server = createServer((socket) => {
      const c = { socket, bytes: 0, closed: false };
      connections.push(c);
      socket.on('data', (d) => (c.bytes += d.length));
      socket.on('close', () => (c.closed = true));
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      for (const c of connections) c.socket.destroy();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const client = createClient({ url: `ws://127.0.0.1:${port}`, userId: 'u1', heartbeat, reconnect });
    t.after(() => client.close());
    const errors: ErrorEvent[] = [];
    client.on('error', (e) => errors.push(e));

    await eventually(() => connections.length >= 2 || undefined, { what: 'a second connection', timeoutMs: 3000 });
    assert.ok(connections[0]!.bytes > 0, 'the first connection sent its upgrade request');
    await eventually(() => connections[0]!.closed || undefined, { what: 'the stuck socket closed', timeoutMs: 3000 });
    const timeout = errors.find((e) => e.code === 'HEARTBEAT_TIMEOUT');
    assert.ok(timeout, `errors: ${JSON.stringify(errors)}`);
    assert.match(timeout.message, new RegExp(`did not open and authenticate within ${DEADLINE_MS} ms`));
  });
});

import assert from 'node:assert/strict';
import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { signUserToken } from '../../shared/auth/jwt.js';
import { testEnv } from '../helpers/config.js';
import { RawConnection } from '../helpers/raw-socket.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';
import { wsServerSuite } from '../helpers/ws-suite.js';

/*
 * The ws-server's port before a socket is a WebSocket: a TCP connection that never completes
 * the upgrade is closed at HTTP_HEADERS_TIMEOUT_MS (it stayed open for good before), and past
 * WS_MAX_CONNECTIONS a new connection is refused while the sockets held keep working.
 */
const HEADERS_TIMEOUT_MS = 500;
const MAX_CONNECTIONS = 3;
/** Far below "indefinitely"; not a speed assertion. */
const BOUND_MS = 5000;
const { config } = testEnv('wsconnlimits', {
  HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
  HTTP_REQUEST_TIMEOUT_MS: '1000',
  WS_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
});

/** One GET on a connection of its own (Connection: close), so it holds no slot afterwards. */
function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('ws-server: connections that never become WebSockets, and the connection cap', () => {
  const suite = wsServerSuite(config);
  const token = (userId: string) => signUserToken(userId, config.auth.jwtSecret);

  it('closes a TCP connection that sends nothing, or half an upgrade request, at the headers deadline', async () => {
    const silent = await RawConnection.open(suite.server.port);
    const half = await RawConnection.open(suite.server.port);
    half.write('GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n');
    const loris = await RawConnection.open(suite.server.port);
    loris.write('GET / HTTP/1.1\r\nHost: test\r\n');
    let lines = 0;
    loris.dribble(() => `X-Slow-${(lines += 1)}: x\r\n`, 50);
    for (const c of [silent, half, loris]) {
      const ms = await c.waitClosed(BOUND_MS);
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 50, `not before the deadline (${Math.round(ms)} ms)`);
      assert.match(c.received, /^HTTP\/1\.1 408 /);
    }
    assert.ok(lines >= 5, 'the slowloris was still sending when it was closed');
  });

  it('refuses the connection past WS_MAX_CONNECTIONS while the sockets held keep working', async () => {
    // The previous test's connections are gone on the server's side too (the client sees its
    // end closed before the server has let go of the socket).
    await eventually(async () => (await suite.server.connections()) === 0, {
      what: "the server to release the previous test's connections",
    });
    const held: WsTestClient[] = [];
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const [client] = await WsTestClient.authed(suite.server.port, { token: await token(`capped${i}`) });
      held.push(client);
      suite.clients.push(client);
    }
    // An upgraded socket is no longer an HTTP request: the headers deadline does not touch it.
    await sleep(HEADERS_TIMEOUT_MS * 2);

    const extra = new WebSocket(`ws://127.0.0.1:${suite.server.port}/`);
    const outcome = await new Promise<string>((resolve) => {
      extra.once('open', () => resolve('open'));
      extra.once('error', (err) => resolve(`error: ${err.message}`));
    });
    assert.match(outcome, /^error/, 'the connection past the cap does not open');

    for (const client of held) {
      assert.equal(client.closed, undefined);
      client.send({ type: 'PING' });
      await client.next('PONG');
    }

    held[0]!.ws.close();
    await held[0]!.waitClosed();
    const metrics = await eventually(
      async () => {
        const text = await scrape(suite.server.port).catch(() => '');
        return /ws_accept_errors_total\{[^}]*code="max_connections"[^}]*\} [1-9]/.test(text) ? text : undefined;
      },
      { what: 'the refused connection in ws_accept_errors_total' },
    );
    assert.ok(metrics);
    // The closed socket and the scrape's connection released: one slot is free.
    await eventually(async () => (await suite.server.connections()) === MAX_CONNECTIONS - 1, {
      what: 'the server to release the closed socket',
    });
    const [again] = await WsTestClient.authed(suite.server.port, { token: await token('capped-again') });
    suite.clients.push(again);
  });
});

describe('ws-server: idle keep-alive connections near WS_MAX_CONNECTIONS', () => {
  const CAP = 6;
  const capped = testEnv('wsidlecap', { WS_MAX_CONNECTIONS: String(CAP) });
  const suite = wsServerSuite(capped.config);
  const raws: RawConnection[] = [];
  after(() => {
    for (const c of raws) c.destroy();
  });

  it('closes idle keep-alive connections so a new client gets in, and leaves WebSockets alone', async () => {
    const sockets: WsTestClient[] = [];
    for (let i = 0; i < 2; i++) {
      const [client] = await WsTestClient.authed(suite.server.port, {
        token: await signUserToken(`idlecap${i}`, capped.config.auth.jwtSecret),
      });
      sockets.push(client);
      suite.clients.push(client);
    }
    // The rest of the cap: connections that sent one request each and went quiet.
    for (let i = 0; i < CAP - sockets.length; i++) {
      const c = await RawConnection.open(suite.server.port);
      raws.push(c);
      assert.equal(await c.get('/healthz'), 'HTTP/1.1 200 OK');
    }
    await sleep(1000);

    const [newcomer] = await WsTestClient.authed(suite.server.port, {
      token: await signUserToken('idlecap-new', capped.config.auth.jwtSecret),
    });
    suite.clients.push(newcomer);
    assert.ok(
      raws.some((c) => c.closed),
      'an idle keep-alive connection was closed to make room',
    );
    for (const client of sockets) {
      assert.equal(client.closed, undefined, 'an upgraded socket is not idle');
      client.send({ type: 'PING' });
      await client.next('PONG');
    }
    const text = await scrape(suite.server.port);
    assert.match(text, /^ws_idle_connections_closed_total(?:\{[^}]*\})? [1-9]/m);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { signUserToken } from '../../shared/auth/jwt.js';
import { testEnv } from '../helpers/config.js';
import { wsServerSuite } from '../helpers/ws-suite.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * Strict tokens on the socket (docs/protocol.md "AUTH"): a socket lives no longer than its
 * token, and a server configured with an auth server's public key takes that server's tokens
 * and nothing signed any other way.
 */

const now = () => Math.floor(Date.now() / 1000);

// No clock tolerance: the socket closes at `exp` itself.
const hs = testEnv('wstokexp', { JWT_CLOCK_TOLERANCE_SECONDS: '0' });
const hsSuite = wsServerSuite(hs.config);

const rsa = await generateKeyPair('RS256', { extractable: true });
const rsaPem = await exportSPKI(rsa.publicKey);
const rs = testEnv('wstokrsa', { JWT_SECRET: '', JWT_PUBLIC_KEY: rsaPem });
const rsSuite = wsServerSuite(rs.config);
const rs256 = (claims: JWTPayload) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);

describe('ws-server: a socket lives no longer than its token', () => {
  it('closes an authenticated socket with 4401 "token expired" when its token expires', async () => {
    // exp is in whole seconds: 1.5 to 2.5 s from now.
    const exp = Math.ceil(Date.now() / 1000 + 1.5);
    const [client, ok] = await WsTestClient.authed(hsSuite.server.port, {
      token: await signUserToken('expiring', hs.config.auth.jwtSecret, exp - now()),
    });
    hsSuite.clients.push(client);
    assert.equal(ok.userId, 'expiring');
    await sleep(Math.max(0, exp * 1000 - Date.now() - 400));
    client.send({ type: 'PING' });
    await client.next('PONG');
    assert.equal(client.closed, undefined, 'open until the token expires');
    const closed = await client.waitClosed();
    assert.deepEqual(closed, { code: 4401, reason: 'token expired' });
    assert.ok(Date.now() >= exp * 1000, 'closed at exp, not before');
  });

  it('keeps a socket with a longer-lived token, and refuses a token without exp or with a bad sub at AUTH', async () => {
    const [client] = await WsTestClient.authed(hsSuite.server.port, {
      token: await signUserToken('lasting', hs.config.auth.jwtSecret, 3600),
    });
    hsSuite.clients.push(client);
    const key = new TextEncoder().encode(hs.config.auth.jwtSecret);
    for (const [claims, reason] of [
      [{ sub: 'alice' }, 'authentication failed: invalid (exp-missing)'],
      [{ sub: '../atkB', exp: now() + 60 }, 'authentication failed: invalid (subject)'],
      [{ sub: 'alice', exp: now() + 30 * 86_400 }, 'authentication failed: invalid (lifetime)'],
    ] as const) {
      const socket = await WsTestClient.connect(hsSuite.server.port);
      hsSuite.clients.push(socket);
      socket.send({ type: 'AUTH', token: await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key) });
      assert.deepEqual(await socket.waitClosed(), { code: 4401, reason });
      assert.equal(socket.of('AUTH_OK').length, 0);
    }
    client.send({ type: 'PING' });
    await client.next('PONG');
    assert.equal(client.closed, undefined);
  });
});

describe('ws-server: JWT_PUBLIC_KEY (RS256)', () => {
  it("authenticates an RS256 token of the auth server's key", async () => {
    const [client, ok] = await WsTestClient.authed(rsSuite.server.port, {
      token: await rs256({ sub: 'alice', exp: now() + 300 }),
    });
    rsSuite.clients.push(client);
    assert.equal(ok.type, 'AUTH_OK');
    assert.equal(ok.userId, 'alice');
  });

  it('closes 4401 on HS256 signed with the public key as secret, on the development secret, and on another RS256 key', async () => {
    const other = await generateKeyPair('RS256');
    const claims = { sub: 'alice', exp: now() + 300 };
    for (const [token, reason] of [
      [
        await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(rsaPem)),
        'authentication failed: invalid (algorithm)',
      ],
      [await signUserToken('alice', rs.config.auth.jwtSecret), 'authentication failed: invalid (algorithm)'],
      [
        await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(other.privateKey),
        'authentication failed: invalid (signature)',
      ],
    ] as const) {
      const socket = await WsTestClient.connect(rsSuite.server.port);
      rsSuite.clients.push(socket);
      socket.send({ type: 'AUTH', token });
      assert.deepEqual(await socket.waitClosed(), { code: 4401, reason });
      assert.equal(socket.of('AUTH_OK').length, 0);
    }
  });
});

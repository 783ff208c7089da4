import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { WsTestClient, replayCounts } from '../helpers/ws-client.js';

const tokenEnv = testEnv('wsauth', {
  AUTH_TIMEOUT_MS: '300',
  WS_MAX_FRAME_BYTES: '1024',
  WS_MAX_FRAMES_PER_SECOND: '20',
  WS_MAX_ACK_BATCH: '5',
});
const devEnv = testEnv('wsauthdev', { WS_AUTH_MODE: 'dev' });
const secret = tokenEnv.config.auth.jwtSecret;

describe('ws-server: authentication and protocol errors', () => {
  let server: WsServerService;
  let devServer: WsServerService;
  const clients: WsTestClient[] = [];
  const connect = async () => {
    const c = await WsTestClient.connect(server.port);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await bootstrap(tokenEnv.config, testLogger);
    devServer = await bootstrap(devEnv.config, testLogger);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await devServer.close();
    await cleanupTestResources(tokenEnv.config);
    await cleanupTestResources(devEnv.config);
  });

  it('accepts a valid token and answers AUTH_OK with its subject', async () => {
    const [client, ok] = await WsTestClient.authed(server.port, { token: await signUserToken('alice', secret) });
    clients.push(client);
    // A first connection: Redis cannot vouch that MongoDB holds nothing older, so the catch-up
    // runs after AUTH_OK and REPLAY_DONE closes it; the next AUTH needs no catch-up.
    assert.deepEqual(ok, {
      type: 'AUTH_OK',
      userId: 'alice',
      pending: 0,
      recovered: false,
      catchingUp: true,
      seq: 0,
      unread: 0,
      unreadVersion: 1,
      ackVersions: true,
    });
    assert.deepEqual(replayCounts(await client.next('REPLAY_DONE')), {
      type: 'REPLAY_DONE',
      pending: 0,
      recovered: true,
    });
    const [again, ok2] = await WsTestClient.authed(server.port, { token: await signUserToken('alice', secret) });
    clients.push(again);
    assert.deepEqual(ok2, {
      type: 'AUTH_OK',
      userId: 'alice',
      pending: 0,
      recovered: true,
      catchingUp: false,
      seq: 0,
      unread: 0,
      unreadVersion: 1,
      ackVersions: true,
    });
  });

  for (const [name, token] of [
    [
      'an expired token',
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(new TextEncoder().encode(secret)),
    ],
    ['a token with a bad signature', () => signUserToken('alice', 'another-secret-that-is-long-enough-0123456789')],
    ['garbage instead of a token', async () => 'not.a.jwt'],
  ] as const) {
    it(`closes 4401 on ${name}`, async () => {
      const client = await connect();
      client.send({ type: 'AUTH', token: await token() });
      assert.equal((await client.waitClosed()).code, 4401);
      assert.equal(client.of('AUTH_OK').length, 0);
    });
  }

  it('closes 4401 on an AUTH without token, and on a bare userId outside dev mode', async () => {
    const missing = await connect();
    missing.send({ type: 'AUTH' });
    assert.equal((await missing.waitClosed()).code, 4401);
    const bare = await connect();
    bare.send({ type: 'AUTH', userId: 'alice' });
    assert.equal((await bare.waitClosed()).code, 4401);
  });

  it('accepts a bare userId in dev mode', async () => {
    const [client, ok] = await WsTestClient.authed(devServer.port, { userId: 'dev-user' });
    clients.push(client);
    assert.equal(ok.userId, 'dev-user');
  });

  it('closes 4401 when no AUTH arrives within AUTH_TIMEOUT_MS', async () => {
    const client = await connect();
    assert.equal((await client.waitClosed()).code, 4401);
  });

  it('answers frames before AUTH with NOT_AUTHENTICATED and delivers nothing', async () => {
    const client = await connect();
    client.send({ type: 'ACK', notificationId: 'x' });
    const error = await client.next('ERROR');
    assert.equal(error.code, 'NOT_AUTHENTICATED');
    assert.equal(client.notifications().length, 0);
  });

  it('answers a PING before AUTH_OK with NOT_AUTHENTICATED, not PONG, also while AUTH is in progress', async () => {
    const token = await signUserToken('pinger', secret);
    const client = await connect();
    // All at once (this server's AUTH_TIMEOUT_MS is short): the second PING is read while the
    // AUTH is verified and its replay read.
    client.send({ type: 'PING' });
    client.send({ type: 'AUTH', token });
    client.send({ type: 'PING' });
    assert.equal((await client.next('ERROR')).code, 'NOT_AUTHENTICATED');
    assert.equal((await client.next('ERROR')).code, 'NOT_AUTHENTICATED');
    await client.next('AUTH_OK');
    assert.equal(client.of('PONG').length, 0, 'no PONG before AUTH_OK');
    client.send({ type: 'PING' });
    await client.next('PONG');
    const order = client.frames.map((f) => f.type).filter((t) => t !== 'REPLAY_DONE');
    assert.deepEqual(order, ['ERROR', 'ERROR', 'AUTH_OK', 'PONG']);
  });

  it('rejects a second AUTH on the same socket', async () => {
    const token = await signUserToken('bob', secret);
    const [client] = await WsTestClient.authed(server.port, { token });
    clients.push(client);
    client.send({ type: 'AUTH', token });
    assert.equal((await client.next('ERROR')).code, 'ALREADY_AUTHENTICATED');
    assert.equal(client.closed, undefined);
  });

  it('answers bad JSON, unknown types and bad shapes with stable codes, and keeps the socket open', async () => {
    const [client] = await WsTestClient.authed(server.port, { token: await signUserToken('carol', secret) });
    clients.push(client);
    client.send('{not json');
    assert.equal((await client.next('ERROR')).code, 'BAD_JSON');
    client.send({ type: 'SUBSCRIBE' });
    assert.equal((await client.next('ERROR')).code, 'UNKNOWN_TYPE');
    client.send({ type: 'ACK' });
    assert.equal((await client.next('ERROR')).code, 'BAD_FRAME');
    client.send([1, 2]);
    assert.equal((await client.next('ERROR')).code, 'BAD_FRAME');
    client.send({ type: 'ACK', notificationIds: Array.from({ length: 6 }, (_, i) => `id${i}`) });
    assert.equal((await client.next('ERROR')).code, 'ACK_BATCH_TOO_LARGE');
    client.send({ type: 'PING' });
    await client.next('PONG');
    assert.equal(client.closed, undefined);
  });

  it('answers a 60 KB unknown type or field before AUTH without quoting it back', async () => {
    // The dev server: its frames may be WS_MAX_FRAME_BYTES' default of 64 KiB.
    const client = await WsTestClient.connect(devServer.port);
    clients.push(client);
    const long = 'x'.repeat(60_000);
    client.send({ type: long });
    client.send({ type: 'PING', [long]: 1 });
    const [unknownType, unknownField] = [await client.next('ERROR'), await client.next('ERROR')];
    assert.equal(unknownType.code, 'UNKNOWN_TYPE');
    assert.equal(unknownField.code, 'BAD_FRAME');
    for (const error of [unknownType, unknownField]) {
      // A short prefix at most, to recognise the value by: no echo of what the client sent.
      assert.ok(JSON.stringify(error).length < 200, JSON.stringify(error).slice(0, 300));
      assert.match(error.message, /"x{31}…/);
    }
    assert.match(unknownType.message, /expected AUTH, ACK or PING$/);
    assert.equal(client.closed, undefined);
  });

  it('closes 1009 on a frame larger than WS_MAX_FRAME_BYTES', async () => {
    const client = await connect();
    client.send({ type: 'PING', pad: 'x'.repeat(2048) });
    assert.equal((await client.waitClosed()).code, 1009);
  });

  it('closes 1008 when a socket floods frames', async () => {
    const [client] = await WsTestClient.authed(server.port, { token: await signUserToken('dave', secret) });
    clients.push(client);
    for (let i = 0; i < 100; i++) client.send({ type: 'PING' });
    assert.equal((await client.waitClosed()).code, 1008);
  });
});

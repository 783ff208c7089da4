import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { MAX_NOTIFICATION_ID_LENGTH } from '../../shared/ack-frame.js';
import { MAX_NOTIFICATION_VERSION } from '../../shared/protocol/frames.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { readPending } from '../helpers/buffer.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { wsServerSuite } from '../helpers/ws-suite.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

const MAX_BUFFERED = 256 * 1024;
const { config } = testEnv('wslimits', {
  WS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED),
  WS_MAX_SOCKETS_PER_USER: '2',
  REPLAY_LIMIT: '2000',
});
// Its own server: a paused client misses pings too, and must be cut off by the buffer cap there.
const heartbeatEnv = testEnv('wsheartbeat', { HEARTBEAT_INTERVAL_MS: '200' });

async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('ws-server: limits, heartbeats and shutdown', () => {
  const suite = wsServerSuite(config);
  const token = (userId: string) => signUserToken(userId, config.auth.jwtSecret);

  it('cuts off a client that stops reading, with the send buffer bounded by the cap', async () => {
    // ~24 MB of notifications: far more than the kernel's socket buffers can absorb.
    const big = 'x'.repeat(32 * 1024);
    const pipeline = [];
    for (let i = 0; i < 750; i++)
      pipeline.push(suite.consumer.make('reader-who-stops', { message: big }).then((n) => suite.consumer.buffer(n)));
    await Promise.all(pipeline);

    const client = await WsTestClient.connect(suite.server.port);
    suite.clients.push(client);
    const tcp = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    client.send({ type: 'AUTH', token: await token('reader-who-stops') });
    tcp.pause();

    await eventually(async () => (await metric(suite.server.port, 'ws_closed_by_server_total', 'slow-consumer')) >= 1, {
      what: 'the server to cut off the slow consumer',
    });
    const peak = await metric(suite.server.port, 'ws_send_buffer_peak_bytes');
    assert.ok(peak > 0 && peak <= MAX_BUFFERED, `peak send buffer ${peak} stays within ${MAX_BUFFERED}`);
    tcp.resume();
    const { code } = await client.waitClosed();
    assert.ok(code === 1013 || code === 1006, `closed with 1013 (or cut, 1006), got ${code}`);
    assert.ok(client.notifications().length < 750, 'it did not receive everything');
    assert.equal(
      (await readPending(suite.consumer.redis, 'reader-who-stops', 1)).total,
      750,
      'nothing was lost: all still pending',
    );
  });

  it('answers the largest ACK the limits allow (WS_MAX_ACK_BATCH ids of the longest id, each with the highest version) instead of closing with 1009', async () => {
    const max = config.ws.maxAckBatch;
    const [client] = await WsTestClient.authed(suite.server.port, { token: await token('acks-a-lot') });
    suite.clients.push(client);
    const ids = Array.from({ length: max }, (_, i) => String(i).padStart(MAX_NOTIFICATION_ID_LENGTH, 'n'));
    client.send({ type: 'ACK', notificationIds: ids, versions: ids.map(() => MAX_NOTIFICATION_VERSION) });
    const answer = await client.next('ERROR', 'NOT_FOUND for the full batch');
    assert.equal(client.closed, undefined, `still open, not closed with ${client.closed?.code}`);
    assert.equal(answer.code, 'NOT_FOUND');
    assert.deepEqual(answer.ids, ids, "every id was looked up: none of them is this user's");

    client.send({ type: 'ACK', notificationIds: [...ids, 'x'.repeat(MAX_NOTIFICATION_ID_LENGTH)] });
    const tooMany = await client.next('ERROR', 'ACK_BATCH_TOO_LARGE');
    assert.equal(tooMany.code, 'ACK_BATCH_TOO_LARGE');
    client.send({ type: 'PING' });
    await client.next('PONG');
    assert.equal(client.closed, undefined, 'one batch too many is an ERROR, the socket stays open');
  });

  it('a client that ACKs a full replay in one frame gets it ACKED, not the same replay on every reconnect', async () => {
    const max = config.ws.maxAckBatch;
    const made = await Promise.all(
      Array.from({ length: max }, () => suite.consumer.make('replay-in-one-ack').then((n) => suite.consumer.buffer(n))),
    );
    const [client] = await WsTestClient.authed(suite.server.port, { token: await token('replay-in-one-ack') });
    suite.clients.push(client);
    const frames = await client.waitForNotifications(max);
    client.send({ type: 'ACK', notificationIds: frames.map((f) => f.notification.id) });
    const acked = await client.next('ACKED');
    assert.equal(client.closed, undefined, `still open, not closed with ${client.closed?.code}`);
    assert.deepEqual([...(acked.ids as string[])].sort(), made.map((n) => n.id).sort());
    assert.equal((await readPending(suite.consumer.redis, 'replay-in-one-ack', 1)).total, 0, 'nothing left to replay');
  });

  it('refuses a socket beyond WS_MAX_SOCKETS_PER_USER', async () => {
    for (let i = 0; i < 2; i++)
      suite.clients.push((await WsTestClient.authed(suite.server.port, { token: await token('phone') }))[0]);
    const third = await WsTestClient.connect(suite.server.port);
    suite.clients.push(third);
    third.send({ type: 'AUTH', token: await token('phone') });
    assert.equal((await third.waitClosed()).code, 1008);
    assert.equal(third.of('AUTH_OK').length, 0);
  });

  it('on shutdown closes sockets with 1001, refuses new upgrades with 503, and keeps unacked notifications pending', async () => {
    const other = await bootstrap(config, testLogger);
    const [client] = await WsTestClient.authed(other.port, { token: await token('leaving') });
    suite.clients.push(client);
    const n = await suite.consumer.deliver(await suite.consumer.make('leaving'));
    await client.waitForNotifications(1);
    // A client that does not read, so it never answers the 1001: the server is still closing
    // (waiting for that answer) when the reconnect below arrives.
    const [deaf] = await WsTestClient.authed(other.port, { token: await token('deaf') });
    suite.clients.push(deaf);
    deaf.ws.pause();

    let refused: number | undefined;
    client.ws.once('close', () => {
      // The server is still draining: a reconnect attempt now must be refused, not half-served.
      const retry = new WebSocket(`ws://127.0.0.1:${other.port}/`);
      retry.on('unexpected-response', (_req, res) => (refused = res.statusCode));
      retry.on('error', () => (refused ??= -1));
    });
    const closing = other.close();
    assert.equal((await client.waitClosed()).code, 1001);
    await closing;
    await eventually(() => refused, { what: 'the reconnect attempt to finish' });
    assert.equal(refused, 503);
    assert.deepEqual(
      (await readPending(suite.consumer.redis, 'leaving', 10)).notifications.map((x) => x.id),
      [n.id],
    );
  });
});

describe('ws-server: heartbeats', () => {
  let hbServer: WsServerService;
  const clients: WsTestClient[] = [];
  before(async () => {
    hbServer = await bootstrap(heartbeatEnv.config, testLogger);
  });
  after(async () => {
    for (const c of clients) c.close();
    await hbServer.close();
    await cleanupTestResources(heartbeatEnv.config);
  });

  it('terminates a socket that stops answering pings', async () => {
    const [client] = await WsTestClient.authed(hbServer.port, {
      token: await signUserToken('ghost', heartbeatEnv.config.auth.jwtSecret),
    });
    clients.push(client);
    // Stop the automatic pong: the client still holds its socket open but looks dead.
    (client.ws as unknown as { pong(): void }).pong = () => undefined;
    client.ws.removeAllListeners('ping');
    (client.ws as unknown as { _receiver: { removeAllListeners(e: string): void } })._receiver.removeAllListeners(
      'ping',
    );
    const { code } = await client.waitClosed();
    assert.equal(code, 1006, 'terminated without a close frame');
    assert.ok((await metric(hbServer.port, 'ws_closed_by_server_total', 'heartbeat')) >= 1);
  });
});

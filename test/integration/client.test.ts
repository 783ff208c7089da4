import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';
import {
  CLIENT_ERROR_CODES,
  createClient,
  type ClientNotification,
  type ClientOptions,
  type ErrorEvent,
  type NotificationClient,
  type ResumeEvent,
  type StateEvent,
  type UnreadEvent,
} from '../../client/index.js';
import type * as ClientModule from '../../client/index.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { ackedAt } from '../../shared/buffer.js';
import type { Notification } from '../../shared/notification.js';
import type { AckFrame, AuthFrame } from '../../shared/protocol/frames.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { readPending } from '../helpers/buffer.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { recordingWebSocket, type RecordingWebSocket } from '../helpers/recording-websocket.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { wsServerSuite } from '../helpers/ws-suite.js';

const REPLAY_LIMIT = 20;
const { config } = testEnv('client', {
  REPLAY_LIMIT: String(REPLAY_LIMIT),
  WS_MAX_FRAMES_PER_SECOND: '500',
  // A token is refused the second it expires, so the expiry test waits two seconds, not thirty.
  JWT_CLOCK_TOLERANCE_SECONDS: '0',
  // Unacked notifications come again while connected: the client must not emit them twice.
  ACK_TIMEOUT_MS: '300',
});

/** Everything a client emitted, in order. */
interface Seen {
  notifications: ClientNotification[];
  states: StateEvent[];
  resumes: ResumeEvent[];
  errors: ErrorEvent[];
  unread: UnreadEvent[];
}

describe('client against the real ws-server', () => {
  const suite = wsServerSuite(config);
  const clients: NotificationClient[] = [];
  const servers: WsServerService[] = [];
  const proxies: TcpProxy[] = [];
  const token = (userId: string, ttlSeconds?: number) => signUserToken(userId, config.auth.jwtSecret, ttlSeconds);

  function start(options: Partial<ClientOptions> & { url: string }, { ackAll = false } = {}) {
    const ws = recordingWebSocket();
    const client = createClient({ WebSocket: ws.Ctor, ...options });
    clients.push(client);
    const seen: Seen = { notifications: [], states: [], resumes: [], errors: [], unread: [] };
    client.on('notification', (n) => {
      seen.notifications.push(n);
      if (ackAll) client.ack(n.id);
    });
    client.on('state', (s) => seen.states.push(s));
    client.on('resume', (r) => seen.resumes.push(r));
    client.on('error', (e) => seen.errors.push(e));
    client.on('unread', (u) => seen.unread.push(u));
    return { client, seen, ws };
  }
  const url = (port: number) => `ws://127.0.0.1:${port}`;
  const isOpen = (client: NotificationClient) => client.state === 'open';
  const acks = (ws: RecordingWebSocket) => ws.sent.filter((f): f is AckFrame => f.type === 'ACK');
  const auths = (ws: RecordingWebSocket) => ws.sent.filter((f): f is AuthFrame => f.type === 'AUTH');
  const ids = (ns: { id: string }[]) => ns.map((n) => n.id);

  async function proxyTo(port: number): Promise<TcpProxy> {
    const proxy = await new TcpProxy('127.0.0.1', port).start();
    proxies.push(proxy);
    return proxy;
  }
  async function extraServer(): Promise<WsServerService> {
    const server = await bootstrap(config, testLogger);
    servers.push(server);
    return server;
  }

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const p of proxies) await p.close();
    for (const s of servers) await s.close();
  });

  it('receives live notifications once, in order, with the unread count, through connecting → authenticating → open', async () => {
    const user = 'recv';
    const { client, seen, ws } = start({ url: url(suite.server.port), token: await token(user) });
    await eventually(() => isOpen(client), { what: 'open' });
    await eventually(() => seen.resumes.length === 1, { what: 'the first replay to end' });
    assert.deepEqual(seen.resumes[0], { recovered: true, replayed: 0, pending: 0 });
    const framesOf = (id: string) =>
      ws.received.filter((f) => f.type === 'NOTIFICATION' && f.notification.id === id).length;
    const sent: Notification[] = [];
    for (let i = 0; i < 3; i++) sent.push(await suite.consumer.deliver(await suite.consumer.make(user)));
    await eventually(() => seen.notifications.length === 3, { what: 'three notifications' });
    await eventually(() => sent.every((n) => framesOf(n.id) >= 2), { what: 'the unacked ones redelivered' });
    assert.deepEqual(ids(seen.notifications), ids(sent), 'each emitted once however often it came');
    assert.deepEqual(client.unread, { count: 3, version: seen.unread.at(-1)?.version });
    assert.ok(
      seen.unread.every((u, i) => i === 0 || u.version > seen.unread[i - 1]!.version),
      'versions only grow',
    );
    assert.deepEqual(
      seen.states.map((s) => s.state),
      ['connecting', 'authenticating', 'open'],
    );
    assert.equal(client.lastSeq, sent.at(-1)!.seq, 'live notifications after a whole replay move the resume point');

    // An aggregate that grew: same id, higher version, emitted again; the same version again is not.
    const grown = { ...sent[0]!, version: 2, actorCount: 2, actors: ['actor2', 'actor1'], seq: sent.at(-1)!.seq + 10 };
    await suite.consumer.deliver(grown);
    await eventually(() => seen.notifications.length === 4, { what: 'the aggregate update' });
    await suite.consumer.push(grown);
    await suite.consumer.deliver(await suite.consumer.make(user));
    await eventually(() => seen.notifications.length === 5, { what: 'the next notification' });
    assert.deepEqual(
      seen.notifications.map((n) => `${n.id}@${n.version}`),
      [...sent.map((n) => `${n.id}@1`), `${sent[0]!.id}@2`, `${seen.notifications[4]!.id}@1`],
      'the repeated push of version 2 is not emitted twice',
    );

    await client.close();
    assert.equal(client.state, 'closed');
    assert.equal(seen.states.at(-1)?.state, 'closed');
  });

  it('acks: the server records them, and a new connection is not sent them again', async () => {
    const user = 'acker';
    const { client, seen, ws } = start({ url: url(suite.server.port), token: await token(user) });
    await eventually(() => isOpen(client), { what: 'open' });
    const [a, b] = [
      await suite.consumer.deliver(await suite.consumer.make(user)),
      await suite.consumer.deliver(await suite.consumer.make(user)),
    ];
    await eventually(() => seen.notifications.length === 2, { what: 'two notifications' });
    client.ack(a.id);
    await eventually(async () => (await ackedAt(suite.consumer.redis, user, [a.id]))[0] !== null, {
      what: 'the ack in Redis',
    });
    assert.deepEqual(
      acks(ws).map((f) => f.notificationIds),
      [[a.id]],
    );
    await client.close();

    const again = start({ url: url(suite.server.port), token: await token(user) });
    await eventually(() => again.seen.resumes.length === 1, { what: 'the replay' });
    assert.deepEqual(ids(again.seen.notifications), [b.id], 'only the unacked one is replayed');
    assert.equal(again.seen.resumes[0]?.pending, 1);
  });

  it('finds a WebSocket by itself in Node: the global one, else the ws package', async () => {
    const user = 'plain-node';
    // Node 20 has no global WebSocket: this exercises the dynamic import of `ws` (client/websocket.ts).
    const client = createClient({ url: url(suite.server.port), token: await token(user) });
    clients.push(client);
    const got: string[] = [];
    client.on('notification', (n) => got.push(n.id));
    await eventually(() => isOpen(client), { what: 'open' });
    const n = await suite.consumer.deliver(await suite.consumer.make(user));
    await eventually(() => got.includes(n.id), { what: 'a notification' });
  });

  it('batches acks: many acks become few ACK frames of at most maxAckBatch ids', async () => {
    const user = 'batcher';
    const { client, seen, ws } = start({
      url: url(suite.server.port),
      token: await token(user),
      maxAckBatch: 16,
      ackDelayMs: 50,
    });
    await eventually(() => isOpen(client), { what: 'open' });
    const sent: Notification[] = [];
    for (let i = 0; i < 40; i++) sent.push(await suite.consumer.deliver(await suite.consumer.make(user)));
    await eventually(() => seen.notifications.length === 40, { what: '40 notifications' });
    for (const n of seen.notifications) client.ack(n.id);
    client.ack(sent[0]!.id); // twice: still once on the wire
    await eventually(async () => (await readPending(suite.consumer.redis, user, 100)).total === 0, {
      what: 'every ack recorded',
    });
    const frames = acks(ws);
    assert.deepEqual(
      frames.map((f) => f.notificationIds.length),
      [16, 16, 8],
      'one frame per delay, never over the batch limit',
    );
    assert.deepEqual(frames.flatMap((f) => f.notificationIds).sort(), ids(sent).sort());
    assert.deepEqual(seen.errors, []);
  });

  it('resumes after the ws-server dies mid-stream and another starts: nothing missed, nothing emitted twice, AUTH with lastSeq', async () => {
    const user = 'survivor';
    const first = await extraServer();
    const proxy = await proxyTo(first.port);
    const { client, seen, ws } = start(
      { url: url(proxy.port), token: await token(user), reconnect: { initialDelayMs: 50, maxDelayMs: 300 } },
      { ackAll: true },
    );
    await eventually(() => isOpen(client), { what: 'open' });
    await eventually(() => seen.resumes.length === 1, { what: 'the first replay to end' });
    const sent: Notification[] = [];
    for (let i = 0; i < 10; i++) sent.push(await suite.consumer.deliver(await suite.consumer.make(user)));
    // The connection dies with whatever is in flight (pushes, acks), then the instance goes.
    await proxy.cut();
    await first.close();
    for (let i = 0; i < 5; i++) sent.push(await suite.consumer.deliver(await suite.consumer.make(user)));
    await eventually(() => client.state === 'reconnecting' || client.state === 'connecting', {
      what: 'the client to notice',
    });
    const second = await extraServer();
    proxy.retarget(second.port);
    await proxy.start();
    await eventually(() => isOpen(client), { what: 'open again' });
    for (let i = 0; i < 5; i++) sent.push(await suite.consumer.deliver(await suite.consumer.make(user)));

    await eventually(() => seen.notifications.length >= sent.length, { what: 'all 20 notifications' });
    await eventually(async () => (await readPending(suite.consumer.redis, user, 100)).total === 0, {
      what: 'every ack recorded',
    });
    assert.deepEqual(new Set(ids(seen.notifications)), new Set(ids(sent)), 'nothing missed');
    assert.equal(seen.notifications.length, sent.length, 'nothing emitted twice');
    const resumedWith = auths(ws).at(-1)?.lastSeq;
    assert.equal(typeof resumedWith, 'number', 'the reconnect resumed with lastSeq');
    assert.ok(resumedWith! >= sent[0]!.seq, 'from what the first connection received');
    assert.ok(
      seen.states.some((s) => s.state === 'reconnecting' && s.code === 1006),
      'an abnormal close, not a goodbye',
    );
  });

  it('refreshes the token after 4401 "token expired": getToken() again, then open', async () => {
    const user = 'expiring';
    const tokens: number[] = [];
    const { client, seen } = start({
      url: url(suite.server.port),
      // The first token expires about two seconds after AUTH; the next ones last an hour.
      getToken: () => {
        const ttl = tokens.length === 0 ? 2 : 3600;
        tokens.push(ttl);
        return token(user, ttl);
      },
    });
    await eventually(() => isOpen(client), { what: 'open' });
    await eventually(() => seen.states.some((s) => s.state === 'reconnecting' && s.code === 4401), {
      what: 'the expiry close',
    });
    const expired = seen.states.find((s) => s.code === 4401);
    assert.equal(expired?.reason, 'token expired');
    await eventually(() => isOpen(client), { what: 'open with a fresh token' });
    assert.deepEqual(tokens, [2, 3600], 'getToken() was called for the reconnect');
    const n = await suite.consumer.deliver(await suite.consumer.make(user));
    await eventually(() => seen.notifications.some((x) => x.id === n.id), { what: 'a notification on the new socket' });
    assert.ok(!seen.errors.some((e) => e.code === CLIENT_ERROR_CODES.refused));
  });

  it('reconnects within a second, without backoff, after 1001 from a ws-server shutting down', async () => {
    const user = 'migrant';
    const leaving = await extraServer();
    const proxy = await proxyTo(leaving.port);
    const random = Math.random;
    // Any backoff would now wait its whole window, a minute: longer than the test waits. The
    // spread of a reconnect "at once" waits its whole second (client/backoff.ts nowDelayMs).
    Math.random = () => 0.999_999;
    try {
      const { client, seen } = start({
        url: url(proxy.port),
        token: await token(user),
        reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      });
      await eventually(() => isOpen(client), { what: 'open' });
      // Stamped as the client changes state, so a slow close() or poll adds nothing to the wait.
      const stamps: Array<{ state: string; atMs: number }> = [];
      client.on('state', ({ state }) => stamps.push({ state, atMs: performance.now() }));
      const staying = await extraServer();
      proxy.retarget(staying.port);
      await leaving.close();
      await eventually(() => seen.states.filter((s) => s.state === 'open').length === 2, {
        what: 'open on the other instance',
      });
      const goodbyeAt = stamps.findIndex((s) => s.state === 'reconnecting');
      const retry = stamps.slice(goodbyeAt).find((s) => s.state === 'connecting');
      assert.ok(goodbyeAt >= 0 && retry, JSON.stringify(stamps));
      const waitedMs = Math.round(retry.atMs - stamps[goodbyeAt]!.atMs);
      assert.ok(waitedMs >= 900 && waitedMs < 10_000, `reconnected ${waitedMs} ms after 1001: spread, not backoff`);
      const goodbye = seen.states.find((s) => s.state === 'reconnecting');
      assert.deepEqual(goodbye, { state: 'reconnecting', code: 1001, reason: 'server shutting down' });
      const n = await suite.consumer.deliver(await suite.consumer.make(user));
      await eventually(() => seen.notifications.some((x) => x.id === n.id), {
        what: 'a notification from the new instance',
      });
    } finally {
      Math.random = random;
    }
  });

  it('says recovered:false when more than REPLAY_LIMIT are pending; acked, the next replay carries the rest', async () => {
    const user = 'backlog';
    const buffered: Notification[] = [];
    for (let i = 0; i < REPLAY_LIMIT + 3; i++)
      buffered.push(await suite.consumer.buffer(await suite.consumer.make(user)));
    const proxy = await proxyTo(suite.server.port);
    const { client, seen, ws } = start(
      { url: url(proxy.port), token: await token(user), reconnect: { initialDelayMs: 50, maxDelayMs: 300 } },
      { ackAll: true },
    );
    await eventually(() => seen.resumes.length === 1, { what: 'the replay to end' });
    assert.deepEqual(seen.resumes[0], { recovered: false, replayed: REPLAY_LIMIT, pending: REPLAY_LIMIT + 3 });
    await eventually(async () => (await readPending(suite.consumer.redis, user, 100)).total === 3, {
      what: 'the replayed ones acked',
    });
    assert.equal(client.lastSeq, undefined, 'an incomplete replay does not move the resume point');

    await proxy.cut();
    await proxy.start();
    await eventually(() => seen.resumes.length === 2, { what: 'the second replay' });
    assert.deepEqual(seen.resumes[1], { recovered: true, replayed: 3, pending: 3 });
    assert.deepEqual(new Set(ids(seen.notifications)), new Set(ids(buffered)));
    assert.equal(seen.notifications.length, buffered.length);
    assert.equal(auths(ws)[1]?.lastSeq, undefined);
    assert.equal(client.lastSeq, Math.max(...buffered.map((n) => n.seq)));
  });

  it('stops on a permanent refusal: a bad token and no getToken → closed, no retry loop', async () => {
    const { client, seen, ws } = start({
      url: url(suite.server.port),
      token: await signUserToken('intruder', 'not-the-secret-but-long-enough-for-hs256-0123456789'),
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    await eventually(() => client.state === 'closed', { what: 'closed' });
    assert.equal(seen.states.at(-1)?.code, 4401);
    assert.match(seen.states.at(-1)?.reason ?? '', /authentication failed: invalid \(signature\)/);
    assert.ok(seen.errors.some((e) => e.code === CLIENT_ERROR_CODES.refused));
    await sleep(500); // a retry loop at 10-20 ms would open dozens of sockets meanwhile
    assert.equal(ws.sockets.length, 1);
    assert.ok(!seen.states.some((s) => s.state === 'reconnecting'));
  });

  describe('/client.js, the browser bundle', () => {
    let dir: string;
    before(async () => (dir = await mkdtemp(join(tmpdir(), 'client-js-'))));
    after(async () => rm(dir, { recursive: true, force: true }));

    it('is served as one JavaScript module that imports nothing, and works when loaded as is', async () => {
      const res = await fetch(`http://127.0.0.1:${suite.server.port}/client.js`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/);
      const body = await res.text();
      assert.doesNotMatch(body, /^\s*import\s[^;]*?from\s*["']/m, 'no static import');
      assert.doesNotMatch(body, /\bimport\s*\(/, 'no dynamic import (no `ws`)');
      assert.doesNotMatch(body, /\brequire\s*\(/);
      assert.doesNotMatch(body, /["'](ws|node:[a-z]+)["']/, 'no Node module named anywhere');

      const file = join(dir, 'client.mjs');
      await writeFile(file, body);
      const bundle = (await import(pathToFileURL(file).href)) as typeof ClientModule;
      const user = 'bundled';
      const client = bundle.createClient({ url: url(suite.server.port), token: await token(user), WebSocket });
      clients.push(client);
      const got: string[] = [];
      client.on('notification', (n) => got.push(n.id));
      await eventually(() => client.state === 'open', { what: 'open' });
      const n = await suite.consumer.deliver(await suite.consumer.make(user));
      await eventually(() => got.includes(n.id), { what: 'a notification through the bundle' });
    });
  });
});

import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signUserToken } from '../../shared/auth/jwt.js';
import { loadConfig } from '../../shared/config.js';
import { Redis as RedisServer } from 'ioredis';
import { closeRedis, connectRedis, type Redis } from '../../shared/redis.js';
import { stopLiveness, watchLiveness } from '../../shared/redis-liveness.js';
import { subscribeOnOwnConnection } from '../../shared/redis-subscription.js';
import { bootstrap as startWsServer, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/**
 * A connection whose peer is gone without a FIN or a reset (a failover that moved the address, a
 * NAT that forgot the flow, a hung server) looks connected for minutes to hours. The proxy makes
 * one: `stall()` stops passing bytes on every open connection, `resume()` forwards new ones again
 * while the stalled ones stay hung. Only a client that notices and reconnects gets through
 * (shared/redis-liveness.ts, REDIS_PING_INTERVAL_MS).
 */
const PING_MS = 400;
const test = testEnv('redisliveness', { REDIS_PING_INTERVAL_MS: String(PING_MS) });
const onCluster = test.config.redis.cluster ? 'cuts a single Redis server through a TCP proxy' : false;

/** Long enough for several missed PINGs: a connection not replaced by then never will be. */
const UNWATCHED_WAIT_MS = 12 * PING_MS;

describe('Redis connections whose peer went silent are replaced', { skip: onCluster }, () => {
  let proxy: TcpProxy;
  let direct: Redis;
  const closers: (() => Promise<void> | void)[] = [];
  const through = (pingIntervalMs: number) =>
    connectRedis(
      { ...test.config, redis: { ...test.config.redis, url: `redis://127.0.0.1:${proxy.port}`, pingIntervalMs } },
      testLogger,
      `liveness-${pingIntervalMs}`,
    );

  before(async () => {
    proxy = await new TcpProxy('127.0.0.1', Number(new URL(test.config.redis.url).port || 6379)).start();
    // The test's own view of Redis, past the proxy and unwatched.
    direct = await connectRedis(
      { ...test.config, redis: { ...test.config.redis, pingIntervalMs: 0 } },
      testLogger,
      'test',
    );
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await closeRedis(direct);
    await proxy.close();
    await cleanupTestResources(test.config);
  });

  it('a command sent into a silent connection completes on a new one; without the PINGs it hangs', async () => {
    const watched = await through(PING_MS);
    const unwatched = await through(0);
    closers.push(
      () => closeRedis(watched),
      () => closeRedis(unwatched),
    );
    proxy.stall();
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'done',
        (err: unknown) => `failed: ${String(err)}`,
      );
    const watchedSet = outcome(watched.set('liveness:watched', 'v'));
    const unwatchedSet = outcome(unwatched.set('liveness:unwatched', 'v'));
    await eventually(() => proxy.heldIncludes(Buffer.from('liveness:watched')), {
      what: 'the SET reaching the stalled connection',
    });
    proxy.resume(); // new connections pass again; the stalled ones stay hung

    const bounded = await Promise.race([watchedSet, sleep(10_000).then(() => 'still waiting after 10 s')]);
    assert.equal(bounded, 'done', 'sent again on a new connection');
    assert.equal(await direct.get('liveness:watched'), 'v');
    const late = await Promise.race([unwatchedSet, sleep(UNWATCHED_WAIT_MS).then(() => 'still waiting')]);
    assert.equal(late, 'still waiting', 'with REDIS_PING_INTERVAL_MS 0 the command waits on the dead connection');
    assert.equal(await direct.get('liveness:unwatched'), null);
  });

  it('a subscriber on a silent connection is replaced, re-subscribed and says what it may have missed', async () => {
    const main = await through(PING_MS);
    closers.push(() => closeRedis(main));
    const channel = `${test.config.redis.keyPrefix}liveness-channel`;
    const heard: string[] = [];
    const events: string[] = [];
    const subscription = await subscribeOnOwnConnection(
      main,
      'liveness-sub',
      [channel],
      {
        onMessage: (_c, message) => heard.push(message),
        onLost: () => events.push('lost'),
        onRestored: () => events.push('restored'),
      },
      testLogger,
    );
    closers.push(() => subscription.close());
    // A control subscriber on a client that does not PING.
    const quiet = await through(0);
    closers.push(() => closeRedis(quiet));
    const quietHeard: string[] = [];
    const quietSub = await subscribeOnOwnConnection(
      quiet,
      'liveness-quiet',
      [channel],
      { onMessage: (_c, message) => quietHeard.push(message) },
      testLogger,
    );
    closers.push(() => quietSub.close());

    await direct.publish(channel, 'before');
    await eventually(() => heard.includes('before') && quietHeard.includes('before'), { what: 'both heard "before"' });

    proxy.stall();
    await direct.publish(channel, 'into the silence');
    proxy.resume();

    await eventually(() => events.slice(0, 2).join(',') === 'lost,restored', {
      what: 'the subscriber dropped and re-subscribed',
      timeoutMs: 10_000,
    });
    await direct.publish(channel, 'after');
    await eventually(() => heard.includes('after'), { what: 'a message after the replacement', timeoutMs: 5000 });
    assert.ok(
      !heard.includes('into the silence'),
      'what was published into the dead connection is lost: onLost said so',
    );

    await sleep(UNWATCHED_WAIT_MS);
    await direct.publish(channel, 'after, again');
    await sleep(200);
    assert.deepEqual(quietHeard, ['before'], 'the subscriber that does not PING heard nothing since');
  });

  it('drops a new connection whose handshake the server never answers, and gets through on the next', async () => {
    const watched = await through(PING_MS);
    closers.push(() => closeRedis(watched));
    proxy.stall();
    const set = watched.set('liveness:handshake', 'v').then(
      () => 'done',
      (err: unknown) => `failed: ${String(err)}`,
    );
    // The watch drops the silent connection; the new one is accepted by the stalled proxy and its
    // handshake never answered (ioredis has no deadline for that).
    await eventually(() => watched.status === 'connect', {
      what: 'a new connection waiting for its handshake',
      timeoutMs: 10_000,
    });
    proxy.resume(); // that connection stays hung; only a newer one gets through
    // Dropped once its handshake read nothing for longer than ioredis' wait between two ready
    // checks of a loading server (10 s) and an interval: a loading server is not dropped.
    const bounded = await Promise.race([set, sleep(20_000).then(() => 'still waiting after 20 s')]);
    assert.equal(bounded, 'done', 'sent again once a connection answered');
    assert.equal(await direct.get('liveness:handshake'), 'v');
  });

  it('leaves a subscriber whose reading is paused (back-pressure) alone', async () => {
    const main = await connectRedis(test.config, testLogger, 'liveness-paused-main');
    closers.push(() => closeRedis(main));
    const events: string[] = [];
    const subscription = await subscribeOnOwnConnection(
      main,
      'liveness-paused',
      [`${test.config.redis.keyPrefix}liveness-paused`],
      { onMessage: () => undefined, onLost: () => events.push('lost'), onRestored: () => events.push('restored') },
      testLogger,
    );
    closers.push(() => subscription.close());
    subscription.connection.stream.pause();
    await sleep(8 * PING_MS);
    subscription.connection.stream.resume();
    await sleep(3 * PING_MS);
    assert.deepEqual(events, [], 'not dropped while paused, nor after');
    assert.equal(subscription.connection.status, 'ready');
  });

  it('a command deadline shorter than the interval does not hide a dead connection', async () => {
    // The producer's client has REDIS_COMMAND_TIMEOUT_MS: a PING that timed out is no answer.
    const watched = await connectRedis(
      {
        ...test.config,
        redis: { ...test.config.redis, url: `redis://127.0.0.1:${proxy.port}`, pingIntervalMs: PING_MS },
      },
      testLogger,
      'liveness-deadline',
      { commandTimeoutMs: PING_MS / 4 },
    );
    closers.push(() => closeRedis(watched));
    proxy.stall();
    await assert.rejects(watched.get('liveness:x'), /Command timed out/);
    proxy.resume();
    await eventually(
      async () => {
        try {
          return (await watched.ping()) === 'PONG';
        } catch {
          return false;
        }
      },
      { what: 'commands answered again on a new connection', timeoutMs: 10_000 },
    );
  });
});

const wsTest = testEnv('redislivenessws', { REDIS_PING_INTERVAL_MS: String(PING_MS) });
describe('ws-server: live delivery comes back after its Redis connections went silent', { skip: onCluster }, () => {
  let proxy: TcpProxy;
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  const clients: WsTestClient[] = [];
  before(async () => {
    proxy = await new TcpProxy('127.0.0.1', Number(new URL(wsTest.config.redis.url).port || 6379)).start();
    server = await startWsServer(
      loadConfig({ ...wsTest.env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }),
      testLogger,
    );
    consumer = await SimulatedConsumer.start(wsTest.config);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await consumer.close();
    await proxy.close();
    await cleanupTestResources(wsTest.config);
  });

  it('pushes a notification committed after the silence, without the client reconnecting', async () => {
    const [client] = await WsTestClient.authed(server.port, {
      token: await signUserToken('silent-redis', wsTest.config.auth.jwtSecret),
    });
    clients.push(client);
    const first = await consumer.deliver(await consumer.make('silent-redis'));
    await client.waitForNotifications(1);

    proxy.stall();
    await sleep(50);
    proxy.resume();
    // The wake subscriber is on a dead connection until the ws-server notices: this
    // notification's wake is published there (then the resync after the replacement finds it) or
    // on the new subscriber; either way only a replaced subscriber gets it to the client.
    const during = await consumer.deliver(await consumer.make('silent-redis', { message: 'during' }));
    await eventually(() => client.notificationIds().includes(during.id), {
      what: 'the notification committed while the subscriber was silent',
      timeoutMs: 10_000,
    });
    const later = await consumer.deliver(await consumer.make('silent-redis', { message: 'later' }));
    await eventually(() => client.notificationIds().includes(later.id), {
      what: 'a live push on the new subscriber',
      timeoutMs: 5000,
    });
    assert.deepEqual(client.notificationIds(), [first.id, during.id, later.id]);
  });
});

/**
 * A stand-in Redis that answers one command at a time, in order, like the real one: `INFO` as
 * `info()` says, `GET slow` after `slowMs`, PING with PONG, anything else with OK. It counts
 * connections and the `GET slow`s it was sent.
 */
async function fakeRedis(info: () => string, slowMs = 0) {
  let connections = 0;
  let slowGets = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    let replies = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // *N\r\n then N times $len\r\narg\r\n
        const text = pending.toString('latin1');
        const header = /^\*(\d+)\r\n/.exec(text);
        if (!header) return;
        let at = header[0].length;
        const args: string[] = [];
        for (let i = 0; i < Number(header[1]); i++) {
          const len = /^\$(\d+)\r\n/.exec(text.slice(at));
          if (!len) return;
          const start = at + len[0].length;
          if (text.length < start + Number(len[1]) + 2) return;
          args.push(text.slice(start, start + Number(len[1])));
          at = start + Number(len[1]) + 2;
        }
        pending = pending.subarray(at);
        const name = (args[0] ?? '').toLowerCase();
        replies = replies.then(async () => {
          let reply = '+OK\r\n';
          if (name === 'info') {
            const body = info();
            reply = `$${Buffer.byteLength(body)}\r\n${body}\r\n`;
          } else if (name === 'ping') reply = '+PONG\r\n';
          else if (name === 'get' && args[1] === 'slow') {
            slowGets++;
            await sleep(slowMs);
            reply = '$4\r\ndone\r\n';
          }
          if (!socket.destroyed) socket.write(reply);
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    slowGets: () => slowGets,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the liveness watch leaves a slow but answering Redis alone', () => {
  it('does not drop a server that is loading its dataset (ioredis asks again only up to 10 s later)', async () => {
    let loading = true;
    const fake = await fakeRedis(() =>
      loading ? '# Persistence\r\nloading:1\r\nloading_eta_seconds:30\r\n' : '# Persistence\r\nloading:0\r\n',
    );
    const client = new RedisServer({ port: fake.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 2 });
    watchLiveness(client, PING_MS, testLogger);
    try {
      const ready = client.connect();
      // Over 25 intervals of a loading server that answers each ready check.
      await sleep(25 * PING_MS);
      assert.equal(client.status, 'connect', 'still waiting for the load to end');
      assert.equal(fake.connections(), 1, 'never dropped while the server answered its ready checks');
      loading = false;
      await ready; // the next ready check, at most 10 s after the last
      assert.equal(await client.ping(), 'PONG');
    } finally {
      stopLiveness(client);
      client.disconnect();
      await fake.close();
    }
  });

  it('gives a command of its own that keeps the server busy past the interval the time to finish', async () => {
    // The server takes 4 intervals to answer it and answers nothing else meanwhile, as Redis does.
    const fake = await fakeRedis(() => '# Persistence\r\nloading:0\r\n', 4 * PING_MS);
    const client = new RedisServer({ port: fake.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 2 });
    await client.connect();
    watchLiveness(client, PING_MS, testLogger);
    try {
      const answer = await Promise.race([client.get('slow'), sleep(20_000).then(() => 'no answer in 20 s')]);
      assert.equal(answer, 'done');
      // Dropped and sent again at most a few times (each drop doubles the wait), not for ever.
      assert.ok(fake.slowGets() <= 4, `the slow command was sent ${fake.slowGets()} times`);
    } finally {
      stopLiveness(client);
      client.disconnect();
      await fake.close();
    }
  });
});

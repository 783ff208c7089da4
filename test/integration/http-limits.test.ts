import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { RawConnection } from '../helpers/raw-socket.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

/*
 * What the producer's port does with clients that hold it: a connection that sends nothing, or
 * its headers a line at a time (slowloris), or its body a byte at a time, is closed at
 * HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS; past HTTP_MAX_CONNECTIONS new connections
 * are refused while the open ones keep working; and one address gets HTTP_RATE_LIMIT_PER_MINUTE
 * requests a minute across every instance, then 429 + Retry-After.
 */
const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 1000;
/** Far below the 66 s (headers) and 300 s (request) a connection was kept before. */
const BOUND_MS = 5000;
/** A valid event POST in two parts: the head with the first bytes of its body, then the rest. */
const SLOW_BODY = '{"type":"FOLLOW","actorId":"cap-a","targetId":"cap-b"}';
const SLOW_POST_HEAD = `POST /events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${SLOW_BODY.length}\r\n\r\n`;
const SLOW_POST_REST = SLOW_BODY.slice('{"type":'.length);

const timeouts = testEnv('httptimeouts', {
  HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
  HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  HTTP_MAX_CONNECTIONS: '3',
});
const API_LIMIT = 5;
const INTAKE_KEY = 'http-limits-intake-key-0123456789-abcdefgh';
const limited = testEnv('httpratelimit', {
  HTTP_RATE_LIMIT_PER_MINUTE: String(API_LIMIT),
  INTAKE_API_KEYS: INTAKE_KEY,
  // The tests name their client in X-Forwarded-For, as Railway's proxy does.
  TRUST_PROXY: '1',
});

/**
 * A producer on `config` for the suite it is called in, and `raw()`, which opens a raw
 * connection to it; the connections and the producer are closed after the suite.
 */
function producerWithRawConnections(config: Config): () => Promise<RawConnection> {
  let producer: ProducerService;
  const open: RawConnection[] = [];
  before(async () => {
    producer = await bootstrap(config, testLogger);
  });
  after(async () => {
    for (const c of open) c.destroy();
    await producer.close();
    await cleanupTestResources(config);
  });
  return async () => {
    const c = await RawConnection.open(producer.port);
    open.push(c);
    return c;
  };
}

describe('producer: header and request timeouts, connection cap', () => {
  const raw = producerWithRawConnections(timeouts.config);

  it('closes a connection that sends nothing, and one that sent half a request line, with 408', async () => {
    const silent = await raw();
    const half = await raw();
    half.write('GET /users/u1/notif');
    for (const c of [silent, half]) {
      const ms = await c.waitClosed(BOUND_MS);
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 50, `not before the deadline (${Math.round(ms)} ms)`);
      assert.match(c.received, /^HTTP\/1\.1 408 /);
    }
  });

  it('closes a slowloris that keeps sending header lines, at the headers deadline', async () => {
    const loris = await raw();
    loris.write('GET /users/u1/notifications HTTP/1.1\r\nHost: test\r\n');
    let lines = 0;
    loris.dribble(() => `X-Slow-${(lines += 1)}: x\r\n`, 50);
    await loris.waitClosed(BOUND_MS);
    assert.ok(lines >= 5, `it was still sending (${lines} lines) when it was closed`);
    assert.match(loris.received, /^HTTP\/1\.1 408 /);
  });

  it('closes a request whose body dribbles in, at the request deadline', async () => {
    const slow = await raw();
    slow.write(
      'POST /events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{',
    );
    let bytes = 1;
    slow.dribble(() => ((bytes += 1), ' '), 50);
    const ms = await slow.waitClosed(BOUND_MS);
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 50, `not before the deadline (${Math.round(ms)} ms)`);
    assert.ok(bytes < 4000, 'closed before the body was complete');
  });

  it('keeps an idle keep-alive socket between requests longer than both deadlines', async () => {
    const client = await raw();
    assert.equal(await client.get('/healthz'), 'HTTP/1.1 200 OK');
    await sleep(REQUEST_TIMEOUT_MS + 500);
    assert.equal(client.closed, false, 'the idle keep-alive socket is still open');
    assert.equal(await client.get('/healthz'), 'HTTP/1.1 200 OK');
    client.destroy();
    await eventually(() => client.closed, { what: 'the socket to close' });
  });

  it('refuses a connection past HTTP_MAX_CONNECTIONS while the open ones keep working', async () => {
    // Let the server see the sockets of earlier tests closed.
    await sleep(200);
    // Each held connection is mid-request (its body not all sent): idle ones would be closed
    // near the cap instead (see the describe below).
    const held = [await raw(), await raw(), await raw()];
    for (const c of held) c.write(SLOW_POST_HEAD + '{"type":');
    await sleep(100);
    const extra = await raw();
    extra.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
    await extra.waitClosed(BOUND_MS, 'the connection past the cap to be closed');
    assert.equal(extra.received, '', 'refused before any answer');
    for (const c of held) {
      assert.equal(c.closed, false, 'a connection mid-request is not cut');
      c.write(SLOW_POST_REST);
      await eventually(() => /^HTTP\/1\.1 \d{3} /.test(c.received), { timeoutMs: BOUND_MS, what: 'its answer' });
    }
    for (const c of held) c.destroy();
    await eventually(() => held.every((c) => c.closed), { what: 'the held sockets to close' });
    await sleep(100);
    const next = await raw();
    assert.equal(await next.get('/healthz'), 'HTTP/1.1 200 OK', 'a slot freed is a slot again');
  });
});

describe('producer: idle keep-alive connections near the connection cap', () => {
  const CAP = 10;
  const raw = producerWithRawConnections(testEnv('httpidlecap', { HTTP_MAX_CONNECTIONS: String(CAP) }).config);

  it('closes idle keep-alive connections so a new client gets in, and leaves a request in flight alone', async () => {
    // One address fills the cap: one request on each connection, then quiet (65 s each before).
    const idle: RawConnection[] = [];
    for (let i = 0; i < CAP - 1; i++) {
      const c = await raw();
      assert.equal(await c.get('/healthz'), 'HTTP/1.1 200 OK');
      idle.push(c);
    }
    // The last slot: a POST whose body is still arriving.
    const slow = await raw();
    slow.write(SLOW_POST_HEAD + '{"type":');
    // The cap is reached: the sweep runs on the last connection (at most one per 500 ms).
    await eventually(() => idle.some((c) => c.closed), { what: 'idle connections closed', timeoutMs: 5000 });

    const client = await raw();
    assert.equal(await client.get('/healthz'), 'HTTP/1.1 200 OK', 'a new client is served within a second');
    // Closing stops below 90 % of the cap, so some idle ones may be left; enough were closed.
    const closed = idle.filter((c) => c.closed).length;
    assert.ok(closed >= 2, `idle connections were closed to make room (${closed} of ${idle.length})`);
    assert.equal(slow.closed, false, 'the request in flight is not cut');
    slow.write(SLOW_POST_REST);
    await eventually(() => /^HTTP\/1\.1 202 /.test(slow.received), {
      timeoutMs: BOUND_MS,
      what: 'the slow POST to be answered',
    });
  });
});

describe('producer: per-client rate limit shared through Redis', () => {
  let a: ProducerService;
  let b: ProducerService;
  let token: string;

  const call = async (producer: ProducerService, client: string, path: string, init: RequestInit = {}) => {
    const res = await fetch(`http://127.0.0.1:${producer.port}${path}`, {
      ...init,
      headers: {
        'x-forwarded-for': client,
        authorization: `Bearer ${token}`,
        ...(init.headers as Record<string, string> | undefined),
      },
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };
  const history = '/users/u1/notifications';

  before(async () => {
    // Two instances on one Redis prefix: as two producer replicas behind one proxy.
    a = await bootstrap(limited.config, testLogger);
    b = await bootstrap(limited.config, testLogger);
    token = await signUserToken('u1', limited.config.auth.jwtSecret);
  });
  after(async () => {
    await a.close();
    await b.close();
    await cleanupTestResources(limited.config);
  });

  it('answers 429 rate_limited with Retry-After past the budget, counted across both instances', async () => {
    const client = '198.51.100.10';
    for (let i = 0; i < API_LIMIT; i++) {
      const res = await call(i % 2 === 0 ? a : b, client, history);
      assert.equal(res.status, 200, `request ${i + 1} of ${API_LIMIT} is served`);
    }
    for (const producer of [a, b]) {
      const refused = await call(producer, client, history);
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error, 'rate_limited');
      assert.equal(typeof refused.body.message, 'string');
      const retryAfter = Number(refused.retryAfter);
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
        `Retry-After in seconds: ${refused.retryAfter}`,
      );
    }
    // 404s and other routes share the one budget: scanning is limited too.
    assert.equal((await call(a, client, '/no-such-route')).status, 429);
  });

  it('never limits /healthz, /readyz or /metrics', async () => {
    const client = '198.51.100.11';
    for (let i = 0; i <= API_LIMIT; i++) await call(a, client, history);
    assert.equal((await call(a, client, history)).status, 429, 'the client is limited');
    for (let i = 0; i < 3 * API_LIMIT; i++) {
      for (const path of ['/healthz', '/readyz']) assert.equal((await call(a, client, path)).status, 200, path);
      const metrics = await fetch(`http://127.0.0.1:${a.port}/metrics`, { headers: { 'x-forwarded-for': client } });
      await metrics.text();
      assert.equal(metrics.status, 200, '/metrics');
    }
  });

  it('counts each address on its own, an IPv6 client by its /64', async () => {
    for (let i = 0; i <= API_LIMIT; i++) await call(a, '2001:db8:1:2::1', history);
    assert.equal(
      (await call(b, '2001:db8:1:2:ffff::9', history)).status,
      429,
      'another address of the same /64 shares the budget',
    );
    assert.equal((await call(b, '2001:db8:1:3::1', history)).status, 200, 'the next /64 has its own');
    assert.equal((await call(b, '198.51.100.12', history)).status, 200, 'another IPv4 address has its own');
  });

  it('does not count requests with a valid intake key, and counts intake attempts without one', async () => {
    const client = '198.51.100.13';
    const post = (producer: ProducerService, authorization?: string) =>
      call(producer, client, '/events', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ type: 'FOLLOW', actorId: 'rl-a', targetId: 'rl-b' }),
      });
    // Four times the budget from one address, all with the key: none is refused.
    for (let i = 0; i < 4 * API_LIMIT; i++) {
      assert.equal((await post(i % 2 === 0 ? a : b, `ApiKey ${INTAKE_KEY}`)).status, 202, `keyed event ${i + 1}`);
    }
    // The same address guessing keys spends the ordinary budget, then gets 429.
    for (let i = 0; i < API_LIMIT; i++)
      assert.equal((await post(a, 'ApiKey wrong-key')).status, 401, `guess ${i + 1} is refused as unauthorized`);
    const refused = await post(b, 'ApiKey wrong-key');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'rate_limited');
    assert.ok(Number(refused.retryAfter) >= 1);
    // The keyed backend on that address still gets through.
    assert.equal((await post(a, `ApiKey ${INTAKE_KEY}`)).status, 202);
  });
});

// A TCP proxy stands in for the one Redis server (a cluster's nodes announce their own addresses).
const onCluster = testEnv('httpratelimitprobe').config.redis.cluster
  ? 'cuts a single Redis server through a TCP proxy'
  : false;
describe('producer: the rate limit fails open while Redis is unreachable', { skip: onCluster }, () => {
  const direct = testEnv('httpratelimitredis', { HTTP_RATE_LIMIT_PER_MINUTE: '1' });
  let proxy: TcpProxy;
  let config: Config;
  let producer: ProducerService;
  let token: string;
  const history = async () => {
    const res = await fetch(`http://127.0.0.1:${producer.port}/users/u1/notifications`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    await res.json();
    return res.status;
  };
  const unchecked = async () => {
    const text = await (await fetch(`http://127.0.0.1:${producer.port}/metrics`)).text();
    return Number(/^producer_rate_limit_unchecked_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
  };

  before(async () => {
    const target = new URL(direct.config.redis.url);
    proxy = await new TcpProxy(target.hostname, Number(target.port || 6379)).start();
    config = loadConfig({ ...direct.env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    producer = await bootstrap(config, testLogger);
    token = await signUserToken('u1', config.auth.jwtSecret);
  });
  after(async () => {
    await producer.close();
    await proxy.close();
    await cleanupTestResources(direct.config);
  });

  it('serves the read API unchecked (not 500, not 429, not hung) while Redis is down or hangs', async () => {
    assert.equal(await history(), 200);
    assert.equal(await history(), 429, 'the limit is in force while Redis answers');

    await proxy.cut();
    assert.equal(await history(), 200, 'Redis down: let through');
    assert.equal(await history(), 200);
    assert.ok((await unchecked()) >= 2, 'counted as unchecked');

    await proxy.start();
    await eventually(async () => (await history()) === 429, { what: 'the limit to apply again once Redis is back' });
    proxy.stall();
    assert.equal(await history(), 200, 'Redis hanging: let through after a short wait');
  });
});

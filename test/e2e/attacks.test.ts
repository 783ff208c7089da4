import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, type JWTPayload } from 'jose';
import { signUserToken } from '../../shared/auth/jwt.js';
import { SERVICE_NAMES, type ServiceName } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { spawnBuilt, startBuilt, type RunningService } from '../helpers/process.js';
import { RawConnection } from '../helpers/raw-socket.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * Issue #16's attacker session, replayed against the four built services configured as a
 * production deployment is (NODE_ENV=production, token auth, a strong secret, an intake key,
 * one CORS origin), with the limits short enough to watch them act. Each attack is one test and
 * asserts the exact answer it gets now; docs/security.md "Threat model" points here.
 */
const JWT_SECRET = randomBytes(48).toString('base64url');
const INTAKE_KEY = randomBytes(32).toString('base64url');
const OTHER_SECRET = randomBytes(48).toString('base64url');
const HEADERS_TIMEOUT_MS = 1500;
const AUTH_TIMEOUT_MS = 2000;
const RATE_LIMIT_PER_MINUTE = 40;
const MAX_LIFETIME_SECONDS = 3600;
/** Deadlines are checked at least every second; the rest is a loaded machine. Not a speed assertion. */
const CLOSE_BOUND_MS = HEADERS_TIMEOUT_MS + 3500;

const { env, config } = testEnv('attacks', {
  NODE_ENV: 'production',
  WS_AUTH_MODE: 'token',
  JWT_SECRET,
  INTAKE_API_KEYS: INTAKE_KEY,
  CORS_ORIGINS: 'https://app.example.com',
  JWT_MAX_LIFETIME_SECONDS: String(MAX_LIFETIME_SECONDS),
  // The socket is closed at `exp` itself, not 30 s later.
  JWT_CLOCK_TOLERANCE_SECONDS: '0',
  AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS),
  HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
  HTTP_REQUEST_TIMEOUT_MS: '3000',
  // testEnv lifts the limit for tests of other things; here it is production-sized, the
  // read API's small enough to reach. Every other test's requests come from 127.0.0.1 and stay
  // far below it; the flood comes from 127.0.0.2, another client with its own budget.
  HTTP_RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
});

const nowSeconds = () => Math.floor(Date.now() / 1000);
const token = (userId: string, ttlSeconds = 600) => signUserToken(userId, JWT_SECRET, ttlSeconds);
const hs256 = (claims: JWTPayload, secret = JWT_SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a connection of its own, from `localAddress` (127.0.0.0/8 is all loopback). */
function http(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
  localAddress = '127.0.0.1',
): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) headers = { ...headers, 'content-type': 'application/json' };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const json = (answer: Answer) => JSON.parse(answer.body) as Record<string, unknown>;
/** An error body without its requestId (shared/http/request-log.ts), which differs per request. */
const errorBody = (answer: Answer) => {
  const { requestId, ...rest } = json(answer);
  assert.equal(typeof requestId, 'string', `an error body carries its requestId: ${answer.body}`);
  return rest;
};

/** Sum of a Prometheus counter over its label sets, but those containing `except`. */
function counterSum(metrics: string, name: string, except?: string): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => except === undefined || !line.includes(except))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('the issue #16 attacker session against a production deployment', () => {
  const running: RunningService[] = [];
  const sockets: WsTestClient[] = [];
  const port = (name: ServiceName) => running.find((s) => s.name === name)!.port;
  const socket = async (auth: { token: string }) => {
    const [client, ok] = await WsTestClient.authed(port('ws-server'), auth);
    sockets.push(client);
    return [client, ok] as const;
  };
  const refusedSocket = async (t: string) => {
    const client = await WsTestClient.connect(port('ws-server'));
    sockets.push(client);
    client.send({ type: 'AUTH', token: t });
    const closed = await client.waitClosed();
    assert.equal(client.of('AUTH_OK').length, 0);
    return closed;
  };
  const readApi = (userId: string, authorization: string, localAddress?: string) =>
    http(port('producer'), 'GET', `/users/${userId}/notifications`, { authorization }, undefined, localAddress);

  before(async () => {
    const started = await Promise.allSettled(SERVICE_NAMES.map((name) => startBuilt(name, env)));
    for (const s of started) if (s.status === 'fulfilled') running.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
  });
  after(async () => {
    for (const client of sockets) client.close();
    for (const s of running) await s.stop('SIGKILL');
    await cleanupTestResources(config);
  });

  it('intake without a key, with a user token or with a wrong key: 401, and the target never gets the phishing event', async () => {
    const [target] = await socket({ token: await token('atkX') });
    const evil = { type: 'SECURITY', targetId: 'atkX', text: 'Click http://evil.example' };
    const post = (authorization?: string, event: unknown = evil) =>
      http(port('producer'), 'POST', '/events', authorization === undefined ? {} : { authorization }, event);

    for (const [what, authorization] of [
      ['no key', undefined],
      ["the attacker's own user token", `Bearer ${await token('atkA')}`],
      ['a wrong key', `ApiKey ${randomBytes(32).toString('base64url')}`],
    ] as const) {
      const answer = await post(authorization);
      assert.equal(answer.status, 401, `${what}: ${answer.body}`);
      assert.equal(answer.headers['www-authenticate'], 'ApiKey', what);
      assert.equal(json(answer).error, 'unauthorized', what);
    }

    // The control, sent with the key after the refused ones, shows the pipe delivers.
    const control = await post(`ApiKey ${INTAKE_KEY}`, {
      type: 'SECURITY',
      targetId: 'atkX',
      text: 'Your password was changed',
    });
    assert.equal(control.status, 202, control.body);
    const [delivered] = await target.waitForNotifications(1);
    assert.equal(delivered!.notification.message, 'Security alert: Your password was changed');
    await sleep(1000);
    assert.deepEqual(
      target.notifications().map((n) => n.notification.message),
      ['Security alert: Your password was changed'],
    );
    assert.ok(!JSON.stringify(target.frames).includes('evil.example'), 'the phishing text reached the socket');
    // Nothing of the refused requests was published or consumed: only the control.
    const producerMetrics = (await http(port('producer'), 'GET', '/metrics')).body;
    const consumerMetrics = (await http(port('consumer'), 'GET', '/metrics')).body;
    assert.equal(counterSum(producerMetrics, 'producer_events_accepted_total'), 1);
    // A retry (a slow store under load) is counted once more before its final outcome.
    assert.equal(counterSum(consumerMetrics, 'consumer_events_processed_total', 'outcome="retried"'), 1);
  });

  it('production with dev auth, CORS *, no or a short intake key, or a short secret: exit 1 naming the variable, never its value', async () => {
    const shortSecret = 'short-jwt-secret-5e1f';
    const shortKey = 'short-intake-key-7c2a';
    const { INTAKE_API_KEYS: _key, ...withoutKey } = env;
    const cases: Array<[ServiceName, Record<string, string>, string]> = [
      ['ws-server', { ...env, WS_AUTH_MODE: 'dev' }, 'WS_AUTH_MODE'],
      ['producer', { ...env, WS_AUTH_MODE: 'dev' }, 'WS_AUTH_MODE'],
      ['producer', { ...env, CORS_ORIGINS: '*' }, 'CORS_ORIGINS'],
      ['producer', { ...env, CORS_ORIGINS: 'https://app.example.com,*' }, 'CORS_ORIGINS'],
      ['producer', withoutKey, 'INTAKE_API_KEYS'],
      ['producer', { ...env, INTAKE_API_KEYS: `${INTAKE_KEY},${shortKey}` }, 'INTAKE_API_KEYS'],
      ['producer', { ...env, JWT_SECRET: shortSecret }, 'JWT_SECRET'],
      ['ws-server', { ...env, JWT_SECRET: shortSecret }, 'JWT_SECRET'],
    ];
    const outcomes = await Promise.all(
      cases.map(async ([service, vars]) => {
        const { proc, output } = spawnBuilt(service, vars);
        // A service that starts would never exit: bounded, then killed and reported.
        const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
        const [code] = (await once(proc, 'close')) as [number | null];
        clearTimeout(timer);
        return { code, output: output() };
      }),
    );
    outcomes.forEach(({ code, output }, i) => {
      const [service, , variable] = cases[i]!;
      const what = `${service} with a bad ${variable}`;
      assert.equal(code, 1, `${what} exits 1:\n${output}`);
      assert.match(output, new RegExp(`${variable}: `), what);
      assert.doesNotMatch(output, /listening/, what);
      for (const value of [JWT_SECRET, INTAKE_KEY, shortSecret, shortKey])
        assert.ok(!output.includes(value), `${what}: the output repeats a secret`);
    });
  });

  it('tokens without exp, too long-lived, with sub ../atkB, alg:none, another secret or expired: 4401 and 401; a valid one lives until its exp', async () => {
    const exp = nowSeconds() + 600;
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'atkA', exp })).toString('base64url')}.`;
    const attacks: Array<[string, string, string]> = [
      ['no exp', await hs256({ sub: 'atkA', iat: nowSeconds() }), 'invalid (exp-missing)'],
      ['beyond JWT_MAX_LIFETIME_SECONDS', await token('atkA', MAX_LIFETIME_SECONDS * 2), 'invalid (lifetime)'],
      ['sub ../atkB', await hs256({ sub: '../atkB', exp }), 'invalid (subject)'],
      ['alg none', none, 'invalid (algorithm)'],
      ['another secret', await hs256({ sub: 'atkA', exp }, OTHER_SECRET), 'invalid (signature)'],
      ['expired', await token('atkA', -60), 'expired'],
    ];
    const closes = await Promise.all(attacks.map(([, t]) => refusedSocket(t)));
    attacks.forEach(([what, , rule], i) =>
      assert.deepEqual(closes[i], { code: 4401, reason: `authentication failed: ${rule}` }, what),
    );
    for (const [what, t, rule] of attacks) {
      const answer = await readApi('atkA', `Bearer ${t}`);
      assert.equal(answer.status, 401, `${what} on the read API: ${answer.body}`);
      assert.deepEqual(
        errorBody(answer),
        { error: 'unauthorized', message: rule === 'expired' ? 'token expired' : `token ${rule}` },
        what,
      );
    }

    const [lasting, ok] = await socket({ token: await token('atkA') });
    assert.equal(ok.userId, 'atkA');
    assert.equal((await readApi('atkA', `Bearer ${await token('atkA')}`)).status, 200);

    // exp is in whole seconds: 2 to 3 s from now.
    const expiresAt = Math.ceil(Date.now() / 1000 + 2);
    const expiring = await token('atkA', expiresAt - nowSeconds());
    const [short, shortOk] = await socket({ token: expiring });
    assert.equal(shortOk.userId, 'atkA');
    assert.deepEqual(await short.waitClosed(), { code: 4401, reason: 'token expired' });
    assert.ok(Date.now() >= expiresAt * 1000, 'closed at exp, not before');
    assert.deepEqual(errorBody(await readApi('atkA', `Bearer ${expiring}`)), {
      error: 'unauthorized',
      message: 'token expired',
    });
    lasting.send({ type: 'PING' });
    await lasting.next('PONG');
    assert.equal(lasting.closed, undefined, 'the longer-lived socket stays');
  });

  it('PING before AUTH: NOT_AUTHENTICATED; silent and slowloris connections: closed at the headers timeout', async () => {
    const early = await WsTestClient.connect(port('ws-server'));
    sockets.push(early);
    early.send({ type: 'PING' });
    const silent = await Promise.all([RawConnection.open(port('ws-server')), RawConnection.open(port('producer'))]);
    const loris = await Promise.all([RawConnection.open(port('ws-server')), RawConnection.open(port('producer'))]);
    const header = 'GET / HTTP/1.1\r\nHost: attacker\r\nX-Slow: ' + 'x'.repeat(1000);
    const sent = loris.map((c) => {
      let bytes = 0;
      c.dribble(() => header[bytes++] ?? 'x', 500);
      return () => bytes;
    });

    assert.equal((await early.next('ERROR')).code, 'NOT_AUTHENTICATED');
    // Still no AUTH: closed at AUTH_TIMEOUT_MS, and no PONG ever came.
    assert.equal((await early.waitClosed()).code, 4401);
    assert.equal(early.of('PONG').length, 0);

    for (const [what, c] of [
      ['silent to ws-server', silent[0]!],
      ['silent to producer', silent[1]!],
      ['slowloris on ws-server', loris[0]!],
      ['slowloris on producer', loris[1]!],
    ] as const) {
      await c.waitClosed(CLOSE_BOUND_MS, `${what} to be closed`);
      assert.match(c.received, /^HTTP\/1\.1 408 /, what);
    }
    for (const bytes of sent) assert.ok(bytes() >= 2, 'the slowloris was still sending when it was closed');
  });

  it('a client past HTTP_RATE_LIMIT_PER_MINUTE: 429 + Retry-After; /healthz and other clients still served', async () => {
    const flooder = '127.0.0.2';
    const authorization = `Bearer ${await token('atkFlood')}`;
    const statuses: number[] = [];
    let refused: Answer | undefined;
    for (let i = 0; i < RATE_LIMIT_PER_MINUTE + 5; i++) {
      const answer = await readApi('atkFlood', authorization, flooder);
      statuses.push(answer.status);
      refused ??= answer.status === 429 ? answer : undefined;
    }
    assert.deepEqual(statuses, [...Array<number>(RATE_LIMIT_PER_MINUTE).fill(200), ...Array<number>(5).fill(429)]);
    assert.equal(json(refused!).error, 'rate_limited');
    const retryAfter = Number(refused!.headers['retry-after']);
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
      `Retry-After ${refused!.headers['retry-after']}`,
    );

    const health = await http(port('producer'), 'GET', '/healthz', {}, undefined, flooder);
    assert.equal(health.status, 200);
    assert.deepEqual(json(health), { status: 'ok' });
    assert.equal((await readApi('atkFlood', authorization)).status, 200, 'another client address keeps its own budget');
  });

  it("user A reading B's notifications: 403; A ACKing B's notification: NOT_FOUND, and B still gets it", async () => {
    const tokenA = await token('atkA');
    const forbidden = await readApi('atkB', `Bearer ${tokenA}`);
    assert.equal(forbidden.status, 403);
    assert.equal(json(forbidden).error, 'forbidden');

    const [owner] = await socket({ token: await token('atkB') });
    const sent = await http(
      port('producer'),
      'POST',
      '/events',
      { authorization: `ApiKey ${INTAKE_KEY}` },
      { type: 'LIKE', actorId: 'atkC', targetId: 'atkB', postId: 'post1' },
    );
    assert.equal(sent.status, 202, sent.body);
    const [n] = await owner.waitForNotifications(1);
    const id = n!.notification.id;
    owner.close();

    const [intruder] = await socket({ token: tokenA });
    intruder.send({ type: 'ACK', notificationId: id });
    const error = await intruder.next('ERROR');
    assert.equal(error.code, 'NOT_FOUND');
    assert.deepEqual(error.ids, [id]);

    const [again] = await socket({ token: await token('atkB') });
    const [replayed] = await again.waitForNotifications(1);
    assert.equal(replayed!.notification.id, id, "still pending for its owner after A's ACK");
  });
});

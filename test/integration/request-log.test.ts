import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { errorHandler } from '../../producer/http-errors.js';
import { createProducerMetrics } from '../../producer/metrics.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { createOpsApp } from '../../shared/http/ops.js';
import { requestLog } from '../../shared/http/request-log.js';
import { connectionLimits, listen, type HttpServer } from '../../shared/http/server.js';
import { createRegistry } from '../../shared/metrics.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * The request id and the access log (shared/http/request-log.ts) on the real producer, with its
 * logger writing where the test reads: one line per request with the route pattern, status,
 * duration, bytes, client and request id, and never a credential, a query or a body.
 */

const INTAKE_KEY = 'reqlog-intake-key-0123456789abcdef-SECRETKEY';
const QUERY_SECRET = 'query-secret-4f1c9a';
const { config } = testEnv('reqlog', { INTAKE_API_KEYS: INTAKE_KEY });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;
type Line = Record<string, unknown>;

describe('request id and access log', () => {
  const log = capturedLog('debug', 'producer');
  let producer: ProducerService;
  let base: string;
  const accessLines = () => log.lines().filter((l) => l.msg === 'request');
  const lineOf = (requestId: string) =>
    eventually(() => accessLines().find((l) => l.requestId === requestId), {
      timeoutMs: 5000,
      what: `access-log line of ${requestId}`,
    });

  before(async () => {
    producer = await bootstrap(config, log.logger);
    base = `http://127.0.0.1:${producer.port}`;
  });
  after(async () => {
    await producer.close();
    await cleanupTestResources(config);
  });

  it('keeps a sane inbound X-Request-Id, echoes it, and logs the intake request with its route, status, size, client and eventId', async () => {
    const id = 'edge-proxy:01J9Z7.abc_DEF-42';
    const startedMs = performance.now();
    const res = await fetch(`${base}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `ApiKey ${INTAKE_KEY}`, 'x-request-id': id },
      body: JSON.stringify({ type: 'LIKE', actorId: 'u1', targetId: 'u2', postId: 'p1' }),
    });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-request-id'), id);
    const body = (await res.json()) as { eventId: string };
    const clientMs = performance.now() - startedMs;
    const line: Line = await lineOf(id);
    assert.equal(line.level, LEVEL.info);
    assert.equal(line.method, 'POST');
    assert.equal(line.route, '/events');
    assert.equal(line.path, undefined, 'a matched route is logged by its pattern only');
    assert.equal(line.status, 202);
    assert.equal(typeof line.durationMs, 'number');
    // The producer runs in this process, on the same clock: the server's span (request in to
    // response closed) lies inside the client's (fetch sent to body read), and a publish with
    // its broker confirm takes more than nothing.
    const durationMs = line.durationMs as number;
    assert.ok(
      durationMs > 0 && durationMs <= clientMs,
      `durationMs ${durationMs} within the ${clientMs.toFixed(1)} ms the client waited`,
    );
    assert.equal(line.bytes, Number(res.headers.get('content-length')));
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.eventId, body.eventId, 'the line joins the request id to the eventId');
    assert.equal(line.service, 'producer');
  });

  it('replaces an inbound X-Request-Id that is too long or not a plain token, and the error body carries the id', async () => {
    for (const bad of ['x'.repeat(129), 'has space', 'quote"d', 'semi;colon', '']) {
      const res = await fetch(`${base}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `ApiKey ${INTAKE_KEY}`, 'x-request-id': bad },
        body: '{"type": "LIKE"}',
      });
      assert.equal(res.status, 400);
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, UUID, `"${bad.slice(0, 20)}" is replaced by a uuid`);
      const body = (await res.json()) as { error: string; requestId?: string };
      assert.equal(body.error, 'validation_failed');
      assert.equal(body.requestId, id);
      assert.equal((await lineOf(id)).status, 400);
    }
    // Exactly 128 characters is still kept.
    const longest = 'a'.repeat(128);
    const kept = await fetch(`${base}/healthz`, { headers: { 'x-request-id': longest } });
    assert.equal(kept.headers.get('x-request-id'), longest);
  });

  it('generates an id when none is sent, logs the route pattern (not the ids in the path), and never a token, key or query', async () => {
    const token = await signUserToken('alice', config.auth.jwtSecret);
    const res = await fetch(`${base}/users/alice/notifications?limit=5&token=${QUERY_SECRET}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.ok(res.status === 200 || res.status === 400, `answered ${res.status}`);
    const id = res.headers.get('x-request-id') ?? '';
    assert.match(id, UUID);
    const line = await lineOf(id);
    assert.equal(line.route, '/users/:userId/notifications');
    assert.equal(line.method, 'GET');

    const unknown = await fetch(`${base}/no/such/route?apiKey=${QUERY_SECRET}`, {
      headers: { authorization: `ApiKey ${INTAKE_KEY}` },
    });
    assert.equal(unknown.status, 404);
    const notFound = await lineOf(unknown.headers.get('x-request-id')!);
    assert.equal(notFound.path, '/no/such/route', 'an unmatched request is logged by its path, without the query');
    assert.equal(notFound.route, undefined);
    assert.equal(((await unknown.json()) as { requestId: string }).requestId, unknown.headers.get('x-request-id'));

    const text = log.text();
    for (const secret of [INTAKE_KEY, token, QUERY_SECRET, 'ApiKey', 'Bearer'])
      assert.ok(!text.includes(secret), `the log holds ${secret.slice(0, 12)}…`);
  });

  it('logs health checks and scrapes at debug, the API at info', async () => {
    const health = await fetch(`${base}/healthz`);
    const scrape = await fetch(`${base}/metrics`);
    await scrape.text();
    assert.equal((await lineOf(health.headers.get('x-request-id')!)).level, LEVEL.debug);
    assert.equal((await lineOf(scrape.headers.get('x-request-id')!)).level, LEVEL.debug);
    const users = await fetch(`${base}/users`);
    assert.equal((await lineOf(users.headers.get('x-request-id')!)).level, LEVEL.info);
  });

  it('lets a browser send and read X-Request-Id across origins', async () => {
    const preflight = await fetch(`${base}/events`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:8080',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-request-id',
      },
    });
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Request-Id/);
    assert.match(preflight.headers.get('x-request-id') ?? '', UUID, 'a preflight gets an id too');
    const res = await fetch(`${base}/healthz`, { headers: { origin: 'http://localhost:8080' } });
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/);
  });
});

describe('request id and access log on the ops listener and the error handler', () => {
  const servers: HttpServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const serve = async (app: express.Express) => {
    const http = await listen(app, 0, '127.0.0.1', connectionLimits(config, 'consumer'));
    servers.push(http);
    return `http://127.0.0.1:${http.port}`;
  };

  it('the ops app (consumer, jobs, ws-server) echoes the id; LOG_ACCESS_SAMPLE_RATIO=0 drops the lines below 500 but never a 5xx', async () => {
    const log = capturedLog('debug', 'consumer');
    const checks = [{ name: 'redis', isReady: () => false }];
    const quiet = { log: { ...config.log, accessSampleRatio: 0 } };
    const base = await serve(createOpsApp(checks, createRegistry('consumer'), requestLog(log.logger, quiet)));
    const health = await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'probe-1' } });
    assert.equal(health.status, 200);
    assert.equal(health.headers.get('x-request-id'), 'probe-1');
    const ready = await fetch(`${base}/readyz`, { headers: { 'x-request-id': 'probe-2' } });
    assert.equal(ready.status, 503);
    const line = await eventually(() => log.lines().find((l) => l.requestId === 'probe-2'), {
      timeoutMs: 5000,
      what: 'the 503 line',
    });
    assert.equal(line.level, LEVEL.warn);
    assert.equal(line.route, '/readyz');
    assert.equal(line.service, 'consumer');
    assert.equal(log.lines().filter((l) => l.requestId === 'probe-1').length, 0, 'the sampled-out 200 left no line');
  });

  it('an unhandled error: a 500 whose body and error line carry the request id', async () => {
    const log = capturedLog('debug', 'producer');
    const app = express();
    app.use(requestLog(log.logger, config));
    app.get('/boom', () => {
      throw new Error('kaboom');
    });
    app.use(errorHandler(log.logger, createProducerMetrics(createRegistry('producer')), 5));
    const base = await serve(app);
    const res = await fetch(`${base}/boom`, { headers: { 'x-request-id': 'boom-1' } });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'internal_error', message: 'unexpected error', requestId: 'boom-1' });
    const errorLine = log.lines().find((l) => l.msg === 'unhandled request error');
    assert.equal(errorLine?.requestId, 'boom-1');
    assert.equal(errorLine?.level, LEVEL.error);
    const access = await eventually(() => log.lines().find((l) => l.msg === 'request'), {
      timeoutMs: 5000,
      what: 'the access line',
    });
    assert.equal(access.requestId, 'boom-1');
    assert.equal(access.status, 500);
  });
});

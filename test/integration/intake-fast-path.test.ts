import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * The intake fast path (producer/intake-fast-path.ts) answers a backend's POST /events without
 * Express. It must answer every request exactly as the Express route does. The same request is
 * sent twice: with `Content-Type: application/json` (the fast path takes it) and with
 * `application/json; charset=utf-8` (Express takes it); status, body and the headers a client
 * reads must be equal. The fast path's counter proves which one answered.
 */
const KEY = randomBytes(32).toString('base64url');
const { config } = testEnv('fastpath', { INTAKE_API_KEYS: KEY, MAX_BODY_BYTES: '2048' });

interface Answer {
  status: number;
  body: string;
  contentType: string | undefined;
  retryAfter: string | undefined;
  wwwAuthenticate: string | undefined;
  requestId: string | undefined;
}

const FAST = 'application/json';
const EXPRESS = 'application/json; charset=utf-8';

function send(
  port: number,
  contentType: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
  chunked = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/events',
        method: 'POST',
        headers: {
          'content-type': contentType,
          authorization: `ApiKey ${KEY}`,
          // The same id both ways, so error bodies (which carry it) compare equal.
          'x-request-id': 'parity-check',
          ...(chunked ? {} : { 'content-length': String(payload.length) }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            contentType: res.headers['content-type'],
            retryAfter: res.headers['retry-after'],
            wwwAuthenticate: res.headers['www-authenticate'],
            requestId: res.headers['x-request-id'] as string | undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    if (chunked) {
      // Several writes without a Content-Length: the size limit is enforced while reading.
      for (let i = 0; i < payload.length; i += 512) req.write(payload.subarray(i, i + 512));
      req.end();
    } else req.end(payload);
  });
}

async function fastPathCount(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const m = /^producer_intake_fast_path_total(?:\{[^}]*\})? (\d+)/m.exec(await res.text());
  return Number(m?.[1] ?? NaN);
}

describe('intake fast path answers exactly as the Express route', () => {
  let producer: ProducerService;
  before(async () => {
    producer = await bootstrap(config, testLogger);
  });
  after(async () => {
    await producer?.close();
    await cleanupTestResources(config);
  });

  async function both(body: Buffer | string, headers: Record<string, string> = {}, chunked = false): Promise<Answer> {
    const before = await fastPathCount(producer.port);
    const fast = await send(producer.port, FAST, body, headers, chunked);
    const afterFast = await fastPathCount(producer.port);
    const slow = await send(producer.port, EXPRESS, body, headers, chunked);
    const afterSlow = await fastPathCount(producer.port);
    assert.equal(afterFast - before, 1, 'the fast path answered the application/json request');
    assert.equal(afterSlow - afterFast, 0, 'Express answered the charset request');
    assert.deepEqual(fast, slow, `same answer for ${String(body).slice(0, 120)}`);
    return fast;
  }

  it('accepts a valid event with the same 202', async () => {
    const answer = await both(
      JSON.stringify({ type: 'LIKE', actorId: 'u1', targetId: 'u2', postId: 'p1', eventId: 'fp-valid-1' }),
    );
    assert.equal(answer.status, 202);
    assert.deepEqual(JSON.parse(answer.body), { eventId: 'fp-valid-1', status: 'accepted' });
    assert.equal(answer.requestId, 'parity-check', 'the X-Request-Id is echoed');
    const fresh = await send(producer.port, FAST, '{"type":"FOLLOW"}', { 'x-request-id': 'not a sane id' });
    assert.match(fresh.requestId ?? '', /^[0-9a-f-]{36}$/, 'an insane id is replaced by a uuid');
    assert.equal(JSON.parse(fresh.body).requestId, fresh.requestId, 'the error body names the request');
  });

  it('answers each malformed body alike', async () => {
    const cases: Array<[string, Buffer | string, number]> = [
      ['not JSON', '{"type":', 400],
      ['empty body', '', 400],
      ['JSON null', 'null', 400],
      ['an array', '[1,2]', 400],
      ['a number', '42', 400],
      ['missing fields', '{"type":"LIKE"}', 400],
      ['unknown type', '{"type":"NOPE","actorId":"a","targetId":"b"}', 400],
      ['unknown field', '{"type":"FOLLOW","actorId":"a","targetId":"b","x":1}', 400],
      [
        'UTF-8 BOM before a valid event',
        Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from('{"type":"FOLLOW","actorId":"a","targetId":"b","eventId":"fp-bom"}'),
        ]),
        202,
      ],
      [
        'invalid UTF-8 inside a string',
        Buffer.concat([
          Buffer.from('{"type":"FOLLOW","actorId":"a'),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('","targetId":"b"}'),
        ]),
        400,
      ],
      [
        'over the size limit',
        JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b', pad: 'x'.repeat(3000) }),
        413,
      ],
    ];
    for (const [what, body, status] of cases) {
      const answer = await both(body);
      assert.equal(answer.status, status, `${what}: ${answer.body}`);
    }
  });

  it('enforces the size limit on a chunked body with no Content-Length', async () => {
    const answer = await both(
      JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b', pad: 'x'.repeat(4000) }),
      {},
      true,
    );
    assert.equal(answer.status, 413);
    const small = await both(
      JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b', eventId: 'fp-chunked' }),
      {},
      true,
    );
    assert.equal(small.status, 202);
  });

  it('treats Idempotency-Key alike', async () => {
    const body = JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b' });
    assert.equal((await both(body, { 'idempotency-key': 'fp-idem-1' })).status, 202);
    assert.equal(JSON.parse((await both(body, { 'idempotency-key': 'fp-idem-1' })).body).eventId, 'fp-idem-1');
    assert.equal((await both(body, { 'idempotency-key': 'bad key with spaces' })).status, 400);
    const mismatch = JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b', eventId: 'fp-other' });
    assert.equal((await both(mismatch, { 'idempotency-key': 'fp-idem-2' })).status, 400);
  });

  it('refuses a key reused for a different event alike (422), and takes a same-event retry alike', async () => {
    const first = JSON.stringify({ type: 'ORDER', targetId: 'u2', orderId: 'o-1', text: 'has shipped' });
    const other = JSON.stringify({ type: 'ORDER', targetId: 'u2', orderId: 'o-2', text: 'was cancelled' });
    assert.equal((await both(first, { 'idempotency-key': 'fp-reuse-1' })).status, 202);
    const reused = await both(other, { 'idempotency-key': 'fp-reuse-1' });
    assert.equal(reused.status, 422, reused.body);
    assert.equal(JSON.parse(reused.body).error, 'idempotency_key_reused');
    // The fields in another order, text with spaces validation trims: the same event, a retry.
    const reordered = JSON.stringify({ text: ' has shipped ', orderId: 'o-1', targetId: 'u2', type: 'ORDER' });
    assert.equal((await both(reordered, { 'idempotency-key': 'fp-reuse-1' })).status, 202);

    // A body eventId is a key too.
    const withId = (orderId: string) =>
      JSON.stringify({ type: 'ORDER', targetId: 'u3', orderId, eventId: 'fp-reuse-2' });
    assert.equal((await both(withId('o-3'))).status, 202);
    assert.equal((await both(withId('o-4'))).status, 422);
  });

  it('answers generated JSON bodies alike', async () => {
    const field = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.constant(null), fc.boolean());
    const event = fc.record(
      {
        type: fc.constantFrom('LIKE', 'COMMENT', 'FOLLOW', 'ORDER_UPDATE', 'like', 'X'),
        actorId: fc.oneof(fc.constantFrom('u1', 'u2', ''), field),
        targetId: fc.oneof(fc.constantFrom('u3', 'u4'), field),
        postId: fc.oneof(fc.constantFrom('p1'), field),
        commentId: field,
        orderId: field,
        status: field,
        eventId: fc.stringMatching(/^fp-gen-[a-z0-9]{1,8}$/),
      },
      { requiredKeys: ['eventId'] },
    );
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        await both(JSON.stringify(e));
      }),
      { numRuns: 60 },
    );
  });

  it('leaves to Express what it does not take: no key, a browser origin, a query', async () => {
    const body = JSON.stringify({ type: 'FOLLOW', actorId: 'a', targetId: 'b' });
    const before = await fastPathCount(producer.port);
    const noKey = await send(producer.port, FAST, body, { authorization: 'ApiKey wrong' });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.wwwAuthenticate, 'ApiKey');
    const browser = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': FAST, authorization: `ApiKey ${KEY}`, origin: 'http://localhost:8080' },
      body,
    });
    assert.equal(browser.status, 202);
    assert.equal(browser.headers.get('access-control-allow-origin'), 'http://localhost:8080');
    const query = await fetch(`http://127.0.0.1:${producer.port}/events?x=1`, {
      method: 'POST',
      headers: { 'content-type': FAST, authorization: `ApiKey ${KEY}` },
      body,
    });
    assert.equal(query.status, 202);
    assert.equal(await fastPathCount(producer.port), before, 'none of these took the fast path');
  });
});

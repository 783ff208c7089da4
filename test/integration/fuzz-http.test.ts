import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import fc from 'fast-check';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { createTopology } from '../../shared/amqp/topology.js';
import { eventsQueueDepth } from '../helpers/events-queues.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/*
 * Hostile HTTP input, generated: every answer is a 4xx with a readable { error, message }, never
 * a 5xx, the producer stays up, and nothing reaches the events queue. No consumer runs here, so
 * the queue's depth counts everything the producer published.
 */
const INTAKE_KEY = 'fuzz-intake-key-0123456789-abcdefghijklmnopqrstuvwxyz';
const { config } = testEnv('fuzzhttp', {
  MAX_BODY_BYTES: '8192',
  BATCH_MAX_BODY_BYTES: '16384',
  BATCH_MAX_EVENTS: '20',
  INTAKE_API_KEYS: INTAKE_KEY,
});
const NUM_RUNS = 400;

let producer: ProducerService;
let base: string;
let token: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function send(
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { unparsable: text.slice(0, 200) };
  }
  return { status: res.status, body: parsed };
}

function assertClearRejection(a: Answer, what: string): void {
  assert.ok(
    a.status >= 400 && a.status < 500,
    `${what}: expected a 4xx, got ${a.status} ${JSON.stringify(a.body).slice(0, 300)}`,
  );
  assert.equal(typeof a.body.error, 'string', `${what}: an error code`);
  assert.ok(typeof a.body.message === 'string' && a.body.message.length > 0, `${what}: a readable message`);
}

// Body fuzzing goes past the intake key to validation; the key itself is fuzzed on its own below.
const apiKey = { authorization: `ApiKey ${INTAKE_KEY}` };
const json = { 'content-type': 'application/json', ...apiKey };
const valid = { type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post1' };
const required = Object.keys(valid) as (keyof typeof valid)[];

/** Values that are never a valid id: wrong types, empty, too long, characters outside the set. */
const badValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
  fc.constant(''),
  fc.string({ minLength: 129, maxLength: 300 }).map((s) => `x${s.replace(/[^a-z]/g, 'y')}`),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `${s} bad/${s}`),
);

/** JSON text of a valid event with exactly one defect, built as text so `__proto__` stays a key. */
const brokenEvent = fc.oneof(
  fc.constantFrom(...required).map((drop) => JSON.stringify({ ...valid, [drop]: undefined })),
  fc.tuple(fc.constantFrom(...required), badValue).map(([field, v]) => JSON.stringify({ ...valid, [field]: v })),
  fc
    .tuple(fc.constantFrom('__proto__', 'constructor', 'prototype', 'isAdmin', 'status'), fc.jsonValue({ maxDepth: 2 }))
    .map(([key, v]) => `{${JSON.stringify(key)}:${JSON.stringify(v) ?? 'null'},${JSON.stringify(valid).slice(1)}`),
  fc
    .string({ maxLength: 20 })
    .filter((t) => !['LIKE'].includes(t))
    .map((t) => JSON.stringify({ ...valid, type: `${t}X` })),
);

/** Bodies that are not an event at all. */
const notAnEvent = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ maxLength: 200 }),
  fc.integer({ min: 1, max: 3000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 1, max: 3000 }).map((depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
  fc.integer({ min: 9000, max: 40_000 }).map((n) => JSON.stringify({ ...valid, text: 'x'.repeat(n) })),
);

/** Invalid UTF-8 inside what would otherwise be a valid event. */
const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => {
  const head = Buffer.from('{"type":"LIKE","actorId":"user1","targetId":"user2","postId":"');
  return Buffer.concat([head, Buffer.from([0xff, 0xfe, ...bytes]), Buffer.from('"}')]);
});

describe('HTTP fuzzing of every endpoint', () => {
  before(async () => {
    producer = await bootstrap(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
    token = await signUserToken('user1', config.auth.jwtSecret);
  });
  after(async () => {
    await producer.close();
    await cleanupTestResources(config);
  });

  for (const path of ['/events', '/like']) {
    it(`POST ${path}: events with one defect are refused with a clear 400`, async () => {
      await fc.assert(
        fc.asyncProperty(brokenEvent, async (body) => {
          // /like fills in a missing type, so dropping "type" there is a valid legacy body.
          fc.pre(!(path === '/like' && !JSON.parse(body).type));
          assertClearRejection(await send('POST', path, body, json), body.slice(0, 200));
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it(`POST ${path}: non-events, deep nesting, huge and invalid UTF-8 bodies are refused`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(notAnEvent, invalidUtf8), async (body) => {
          assertClearRejection(await send('POST', path, body, json), String(body).slice(0, 200));
        }),
        { numRuns: NUM_RUNS },
      );
    });

    it(`POST ${path}: anything but JSON is a 415`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
            '',
          ),
          async (type) => {
            const answer = await send('POST', path, JSON.stringify(valid), {
              ...apiKey,
              ...(type ? { 'content-type': type } : {}),
            });
            assertClearRejection(answer, type);
            assert.equal(answer.status, 415);
          },
        ),
        { numRuns: 20 },
      );
    });
  }

  it('the intake routes refuse every generated credential but the key itself with a 401, and a user token too', async () => {
    const printable = (s: string) => s.replace(/[^\x21-\x7e]/g, 'a');
    const nearKey = fc.oneof(
      fc
        .nat({ max: INTAKE_KEY.length - 1 })
        .map((i) => `${INTAKE_KEY.slice(0, i)}${INTAKE_KEY[i] === 'Z' ? 'Y' : 'Z'}${INTAKE_KEY.slice(i + 1)}`),
      fc.nat({ max: INTAKE_KEY.length - 1 }).map((n) => INTAKE_KEY.slice(0, n)),
      fc.string({ minLength: 1, maxLength: 10 }).map((tail) => `${INTAKE_KEY}${printable(tail)}`),
      fc.constant(INTAKE_KEY.toUpperCase()),
    );
    const credential = fc.oneof(
      fc.constant(undefined),
      fc.string({ maxLength: 200 }).map(printable),
      fc.string({ minLength: 1, maxLength: 200 }).map((s) => `ApiKey ${printable(s)}`),
      nearKey.map((k) => `ApiKey ${k}`),
      fc.constantFrom(`Bearer ${INTAKE_KEY}`, `Basic ${INTAKE_KEY}`, INTAKE_KEY, `ApiKey  ${INTAKE_KEY} ${INTAKE_KEY}`),
      fc.constant('user token'),
    );
    const route = fc.constantFrom(
      ['/events', JSON.stringify(valid)],
      ['/like', JSON.stringify(valid)],
      ['/events/batch', JSON.stringify({ events: [valid] })],
    );
    await fc.assert(
      fc.asyncProperty(route, credential, async ([path, body], generated) => {
        const authorization = generated === 'user token' ? `Bearer ${token}` : generated;
        const answer = await send('POST', path, body, {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        });
        assertClearRejection(answer, `${path} with ${String(authorization).slice(0, 60)}`);
        assert.equal(answer.status, 401, `${path} with ${String(authorization).slice(0, 60)}: ${answer.status}`);
      }),
      { numRuns: NUM_RUNS },
    );
    // The key opens nothing else: the read API answers it as it answers no token.
    const read = await send('GET', '/users/user1/notifications', undefined, apiKey);
    assert.equal(read.status, 401);
  });

  it('POST /events: a malformed or conflicting Idempotency-Key is a 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 300 }), async (key) => {
        const clean = key.replace(/[^\x21-\x7e]/g, '!');
        fc.pre(!/^[A-Za-z0-9._:@-]{1,128}$/.test(clean));
        assertClearRejection(
          await send('POST', '/events', JSON.stringify(valid), { ...json, 'idempotency-key': clean }),
          clean,
        );
      }),
      { numRuns: 200 },
    );
    const conflict = await send('POST', '/events', JSON.stringify({ ...valid, eventId: 'a' }), {
      ...json,
      'idempotency-key': 'b',
    });
    assertClearRejection(conflict, 'conflicting key');
  });

  it('POST /events/batch: bad envelopes are a 400, bad items are rejected one by one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          notAnEvent,
          fc.array(brokenEvent, { minLength: 1, maxLength: 25 }).map((items) => `{"events":[${items.join(',')}]}`),
          fc.constant('{"events":[]}'),
        ),
        async (body) => {
          const answer = await send('POST', '/events/batch', body, json);
          if (answer.status === 200) {
            assert.equal(answer.body.accepted, 0, `nothing accepted from ${body.slice(0, 200)}`);
            assert.ok(Number(answer.body.rejected) > 0);
          } else {
            assertClearRejection(answer, body.slice(0, 200));
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('the history, read and timeline routes answer generated params with a 4xx, never a 5xx', async () => {
    const segment = fc.string({ maxLength: 300 }).map((s) => encodeURIComponent(s) || 'x');
    const route = fc.oneof(
      fc
        .tuple(segment, fc.string(), fc.string(), fc.string())
        .map(
          ([u, limit, before, status]) =>
            ['GET', `/users/${u}/notifications?${new URLSearchParams({ limit, before, status })}`] as const,
        ),
      fc
        .tuple(fc.string(), fc.string())
        .map(
          ([limit, status]) =>
            [
              'GET',
              `/users/user1/notifications?limit=${encodeURIComponent(limit)}x&status=${encodeURIComponent(status)}`,
            ] as const,
        ),
      segment.map((u) => ['GET', `/users/${u}/notifications/unread-count`] as const),
      segment.map((id) => ['PATCH', `/notifications/${id}/read`] as const),
      segment.map((id) => ['GET', `/notifications/${id}/timeline`] as const),
      segment.map((u) => ['POST', `/users/${u}/notifications/read-all`] as const),
    );
    const auth = fc.oneof(
      fc.constant(`Bearer ${token}`),
      fc.string({ maxLength: 100 }).map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'a')}`),
      fc.constant(`Bearer ${token.slice(0, -4)}AAAA`),
      fc.constant('Basic dXNlcjpwYXNz'),
    );
    await fc.assert(
      fc.asyncProperty(route, auth, async ([method, path], authorization) => {
        const answer = await send(method, path, undefined, { authorization });
        assert.ok(answer.status < 500, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
        if (answer.status >= 400) assertClearRejection(answer, `${method} ${path}`);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('after all of it the producer is healthy and nothing was queued; a valid event sent then is', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const conn = await amqplib.connect(config.rabbitmq.url);
    try {
      const ch = await conn.createChannel();
      const topology = createTopology(config);
      const messageCount = await eventsQueueDepth(ch, topology);
      assert.equal(messageCount, 0, 'rejected input must not be published');
      // The control: one valid event through the same door does show in the depth read above.
      const accepted = await send('POST', '/events', JSON.stringify(valid), json);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const depth = await eventually(async () => (await eventsQueueDepth(ch, topology)) || undefined, {
        what: 'the valid event in the events queue',
      });
      assert.equal(depth, 1, 'only the valid event was published');
      await ch.close();
    } finally {
      await conn.close();
    }
  });
});

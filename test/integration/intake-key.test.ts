import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import amqplib from 'amqplib';
import { pino } from 'pino';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology, eventsQueueList } from '../../shared/amqp/topology.js';
import { eventsQueueDepth } from '../helpers/events-queues.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * Event intake and the follow writes take `Authorization: ApiKey <key>` (producer/intake-key.ts),
 * through the producer's real bootstrap; the read API keeps its bearer JWT, and neither
 * credential opens the other's routes.
 */
const KEY_OLD = randomBytes(32).toString('base64url');
const KEY_NEW = randomBytes(32).toString('base64');
const { config } = testEnv('intakekey', { INTAKE_API_KEYS: ` ${KEY_NEW} , ${KEY_OLD} `, WS_AUTH_MODE: 'token' });
const topology = createTopology(config);

type Json = Record<string, unknown>;
const like = { type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post3' };

async function call(port: number, method: string, path: string, authorization: string | undefined, body?: unknown) {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Json };
}

async function queuedEvents(): Promise<number> {
  const conn = await amqplib.connect(config.rabbitmq.url);
  try {
    const ch = await conn.createChannel();
    const messageCount = await eventsQueueDepth(ch, topology);
    for (const queue of eventsQueueList(topology)) await ch.purgeQueue(queue);
    await ch.close();
    return messageCount;
  } finally {
    await conn.close();
  }
}

function assertUnauthorized(res: { status: number; headers: Headers; body: Json }, what: string): void {
  assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error, 'unauthorized', what);
  assert.ok(typeof res.body.message === 'string' && res.body.message.length > 0, `${what}: a readable message`);
  assert.equal(res.headers.get('www-authenticate'), 'ApiKey', what);
}

describe('intake API keys through the producer', () => {
  let producer: ProducerService;
  let userToken: string;
  before(async () => {
    producer = await bootstrap(config, testLogger);
    userToken = await signUserToken('user1', config.auth.jwtSecret);
    await queuedEvents();
  });
  after(async () => {
    await producer.close();
    await cleanupTestResources(config);
  });

  it('POST /events without a key, with a wrong key or with a malformed header is a 401 and publishes nothing', async () => {
    const refused: Array<[string, string | undefined]> = [
      ['no header', undefined],
      ['a wrong key', `ApiKey ${randomBytes(32).toString('base64url')}`],
      ['a key one character short', `ApiKey ${KEY_OLD.slice(0, -1)}`],
      ['a key with one character more', `ApiKey ${KEY_OLD}x`],
      ['two keys in one header', `ApiKey ${KEY_OLD},${KEY_NEW}`],
      ['the key without its scheme', KEY_OLD],
      ['the key under another scheme', `Basic ${KEY_OLD}`],
      ['an empty key', 'ApiKey '],
    ];
    for (const [what, authorization] of refused)
      assertUnauthorized(await call(producer.port, 'POST', '/events', authorization, like), what);
    const res = await call(producer.port, 'POST', '/events', undefined, like);
    assert.match(String(res.body.message), /Authorization: ApiKey/);
    assert.equal(await queuedEvents(), 0, 'nothing was published');
  });

  it('each of the two configured keys is accepted (rotation), on /events, /like and /events/batch', async () => {
    for (const key of [KEY_OLD, KEY_NEW]) {
      const res = await call(producer.port, 'POST', '/events', `ApiKey ${key}`, like);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.status, 'accepted');
    }
    // The scheme is case-insensitive (RFC 9110); the key is not.
    assert.equal((await call(producer.port, 'POST', '/like', `apikey ${KEY_NEW}`, like)).status, 202);
    assertUnauthorized(
      await call(producer.port, 'POST', '/like', `ApiKey ${KEY_NEW.toLowerCase()}X`, like),
      'case-changed key',
    );
    const batch = await call(producer.port, 'POST', '/events/batch', `ApiKey ${KEY_OLD}`, { events: [like, like] });
    assert.equal(batch.status, 200);
    assert.equal(batch.body.accepted, 2);
    assertUnauthorized(
      await call(producer.port, 'POST', '/events/batch', undefined, { events: [like] }),
      'batch without a key',
    );
    assert.equal(await queuedEvents(), 5);
  });

  it("refuses a user's bearer JWT on intake, saying intake wants an API key", async () => {
    for (const path of ['/events', '/like', '/events/batch']) {
      const res = await call(
        producer.port,
        'POST',
        path,
        `Bearer ${userToken}`,
        path === '/events/batch' ? { events: [like] } : like,
      );
      assertUnauthorized(res, `${path} with a user token`);
      assert.match(String(res.body.message), /user token/);
    }
    assert.equal(await queuedEvents(), 0);
  });

  it('checks the key before reading the body: an unauthenticated oversized or non-JSON body is a 401, not a 413 or 415', async () => {
    const huge = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...like, text: 'x'.repeat(config.http.maxBodyBytes * 2) }),
    });
    assert.equal(huge.status, 401);
    const text = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    assert.equal(text.status, 401);
  });

  it('refuses an API key on the read API, which keeps its bearer JWT', async () => {
    for (const path of [
      '/users/user1/notifications',
      '/users/user1/notifications/unread-count',
      '/users/user1/preferences',
      '/users/user1/followers',
    ]) {
      const res = await call(producer.port, 'GET', path, `ApiKey ${KEY_OLD}`);
      assert.equal(res.status, 401, `${path} with an API key`);
      assert.equal(res.body.error, 'unauthorized');
      assert.equal(
        (await call(producer.port, 'GET', path, `Bearer ${userToken}`)).status,
        200,
        `${path} with the user's token`,
      );
    }
  });

  it("following and unfollowing take the API key for any user; a user's token is refused; muting keeps the user's token", async () => {
    assertUnauthorized(
      await call(
        producer.port,
        'POST',
        '/users/user5/follows',
        `Bearer ${await signUserToken('user5', config.auth.jwtSecret)}`,
        { targetId: 'user6' },
      ),
      "follow with the follower's own token",
    );
    assertUnauthorized(
      await call(producer.port, 'POST', '/users/user5/follows', undefined, { targetId: 'user6' }),
      'follow without credentials',
    );
    const followed = await call(producer.port, 'POST', '/users/user5/follows', `ApiKey ${KEY_NEW}`, {
      targetId: 'user6',
    });
    assert.equal(followed.status, 201, JSON.stringify(followed.body));
    assert.equal(followed.body.followerId, 'user5');
    const user5 = `Bearer ${await signUserToken('user5', config.auth.jwtSecret)}`;
    assert.equal((await call(producer.port, 'PUT', '/users/user5/follows/user6', user5, { muted: true })).status, 200);
    assert.equal(
      (await call(producer.port, 'PUT', '/users/user5/follows/user6', `ApiKey ${KEY_NEW}`, { muted: false })).status,
      401,
      "muting is the user's",
    );
    assertUnauthorized(
      await call(producer.port, 'DELETE', '/users/user5/follows/user6', user5),
      "unfollow with the user's token",
    );
    assert.equal((await call(producer.port, 'DELETE', '/users/user5/follows/user6', `ApiKey ${KEY_OLD}`)).status, 200);
    assert.equal(await queuedEvents(), 2, 'one FOLLOW and one UNFOLLOW event');
  });
});

describe('intake without INTAKE_API_KEYS (development and tests only)', () => {
  it('stays open and the producer warns loudly, once, at start', async () => {
    const { config: open } = testEnv('intakeopen');
    assert.deepEqual(open.intake.apiKeys, []);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const producer = await bootstrap(open, pino({ level: 'info' }, sink));
    try {
      const res = await call(producer.port, 'POST', '/events', undefined, like);
      assert.equal(res.status, 202);
      await call(producer.port, 'POST', '/events', undefined, like);
      const warnings = lines
        .map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => /INTAKE_API_KEYS/.test(l.msg));
      assert.equal(warnings.length, 1, lines.join('\n'));
      assert.equal(warnings[0]!.level, 40, 'a warning');
      assert.match(warnings[0]!.msg, /OPEN/);
    } finally {
      await producer.close();
      await cleanupTestResources(open);
    }
  });
});

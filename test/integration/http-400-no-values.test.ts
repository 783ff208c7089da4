import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * A 400 says which rule a field broke, never what the client sent (docs/security.md, "Secrets"):
 * Joi's default pattern messages quote the value, and an answer echoing input is a reflection
 * vector and puts payloads into whatever logs the answers.
 */
const { config } = testEnv('http400novalues');
/** Characters outside every id pattern, so each field below fails its pattern with it. */
const MARK = 'zq<echo>!';
const ENCODED = encodeURIComponent(MARK);

describe('producer: 400 answers name the rule, never the value', () => {
  let producer: ProducerService;
  let token: string;
  before(async () => {
    producer = await bootstrap(config, testLogger);
    token = await signUserToken('u1', config.auth.jwtSecret);
  });
  after(async () => {
    await producer.close();
    await cleanupTestResources(config);
  });

  const requests: { what: string; method: string; path: string; body?: unknown }[] = [
    { what: 'a notification id in the path', method: 'PATCH', path: `/notifications/${ENCODED}/read` },
    { what: 'a notification id in the timeline path', method: 'GET', path: `/notifications/${ENCODED}/timeline` },
    { what: 'a user id in the followers path', method: 'GET', path: `/users/${ENCODED}/followers` },
    {
      what: 'a follower id in the follow path',
      method: 'POST',
      path: `/users/${ENCODED}/follows`,
      body: { targetId: 'u2' },
    },
    { what: 'a target id in the follow body', method: 'POST', path: '/users/u1/follows', body: { targetId: MARK } },
    { what: 'a target id in the unfollow path', method: 'DELETE', path: `/users/u1/follows/${ENCODED}` },
    { what: 'the history query', method: 'GET', path: `/users/u1/notifications?status=${ENCODED}&limit=${ENCODED}` },
    { what: 'the followers query', method: 'GET', path: `/users/u1/followers?limit=${ENCODED}` },
    {
      what: 'a do-not-disturb time in the preferences body',
      method: 'PUT',
      path: '/users/u1/preferences',
      body: { doNotDisturb: { start: MARK, end: '07:00', timeZone: 'Europe/Berlin' } },
    },
  ];

  /** A key the client chose: answers repeat at most its first 32 characters, in `field`. */
  const LONG_KEY = `k${'zq'.repeat(200)}`;
  const unknownKeys: { what: string; method: string; path: string; body?: unknown }[] = [
    {
      what: 'an event',
      method: 'POST',
      path: '/events',
      body: { type: 'SECURITY', targetId: 'u2', text: 'x', [LONG_KEY]: 1 },
    },
    { what: 'a follow', method: 'POST', path: '/users/u1/follows', body: { targetId: 'u2', [LONG_KEY]: 1 } },
    { what: 'the preferences', method: 'PUT', path: '/users/u1/preferences', body: { [LONG_KEY]: 1 } },
    { what: 'the history query', method: 'GET', path: `/users/u1/notifications?${LONG_KEY}=1` },
  ];
  for (const { what, method, path, body } of unknownKeys) {
    it(`an unknown field in ${what}: 400 naming at most 32 characters of it`, async () => {
      const res = await fetch(`http://127.0.0.1:${producer.port}${path}`, {
        method,
        headers: {
          authorization: path === '/events' ? `ApiKey ${config.intake.apiKeys[0] ?? ''}` : `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      const answer = JSON.parse(text) as { details: { field: string; message: string }[] };
      assert.deepEqual(answer.details, [{ field: `${LONG_KEY.slice(0, 32)}…`, message: 'not a known field' }]);
      assert.ok(!text.includes(LONG_KEY.slice(0, 40)), `the key is not echoed whole: ${text.slice(0, 300)}`);
    });
  }

  for (const { what, method, path, body } of requests) {
    it(`${what}: 400 without the value`, async () => {
      const res = await fetch(`http://127.0.0.1:${producer.port}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      const answer = JSON.parse(text) as { error: string; details?: { field: string; message: string }[] };
      assert.equal(answer.error, 'validation_failed');
      assert.ok(answer.details?.length, 'the answer says which field broke which rule');
      for (const d of answer.details) assert.ok(d.field && d.message, JSON.stringify(d));
      assert.ok(!text.includes('zq'), `the value is not echoed: ${text}`);
    });
  }
});

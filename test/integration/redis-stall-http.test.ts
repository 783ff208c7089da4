import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import { loadConfig, type Config } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/*
 * Redis behind a proxy that either stops answering (accepts bytes, never replies: a hung server)
 * or drops every connection and refuses new ones (unreachable). Every read-API route that needs
 * Redis answers 503 store_unavailable + Retry-After, never hangs and never a 500; event intake
 * (which needs only the broker) still answers 202. The command deadline is short here so the
 * test is quick; nothing below measures how quick.
 */
const COMMAND_TIMEOUT_MS = 400;
/** Far past the deadline: a request still unanswered by then hangs. */
const HUNG_MS = 15_000;

const routes: Array<[string, string, unknown?]> = [
  ['GET', '/users/u1/notifications/unread-count'],
  ['POST', '/users/u1/notifications/read-all'],
  ['PATCH', '/notifications/n1/read'],
  ['GET', '/notifications/n1/timeline'],
  ['GET', '/users/u1/preferences'],
  ['PUT', '/users/u1/preferences', { promotionalOptOut: true }],
];

for (const mode of ['stall', 'cut'] as const) {
  describe(`producer while Redis ${mode === 'stall' ? 'hangs' : 'is unreachable'}`, () => {
    let proxy: TcpProxy;
    let producer: ProducerService;
    let base: string;
    // The same names, reaching Redis directly: the cleanup's client must not go through the proxy.
    const { env, config: direct } = testEnv(`redis${mode}http`, {
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      RETRY_AFTER_SECONDS: '7',
    });
    let config: Config;

    const call = async (method: string, path: string, body?: unknown, auth?: string) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: auth ?? `Bearer ${await signUserToken('u1', config.auth.jwtSecret)}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(HUNG_MS),
      });
      return {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
        body: (await res.json()) as Record<string, unknown>,
      };
    };

    before(async () => {
      proxy = await new TcpProxy('127.0.0.1', Number(new URL(direct.redis.url).port || 6379)).start();
      config = loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
      producer = await bootstrap(config, testLogger);
      base = `http://127.0.0.1:${producer.port}`;
    });
    after(async () => {
      await proxy.close();
      await producer.close();
      await cleanupTestResources(direct);
    });

    it('answers 503 store_unavailable + Retry-After on every Redis route, and still accepts events', async () => {
      assert.equal((await call('GET', '/users/u1/notifications/unread-count')).status, 200, 'healthy before');
      if (mode === 'stall') proxy.stall();
      else await proxy.cut();

      const answers = await Promise.all(
        routes.map(([method, path, body]) =>
          call(method, path, body).then((a) => ({ what: `${method} ${path}`, ...a })),
        ),
      );
      for (const a of answers) {
        assert.equal(a.status, 503, `${a.what}: ${JSON.stringify(a.body)}`);
        assert.equal(a.retryAfter, '7', a.what);
        assert.equal(a.body.error, 'store_unavailable', a.what);
      }

      // Intake needs the broker only: an event without an Idempotency-Key never waits on Redis.
      const accepted = await call(
        'POST',
        '/events',
        { type: 'FOLLOW', actorId: 'a', targetId: 'b' },
        // Intake is open in tests (INTAKE_API_KEYS unset): no key to present.
        '',
      );
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    });
  });
}

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const QUERY_TIMEOUT_MS = 2000;
/** Scheduling, the HTTP round trip, a loaded CI machine: far below "hung". */
const MARGIN_MS = 1500;

/*
 * MongoDB accepts connections and never answers (a stalling proxy in front of the real
 * FerretDB): every route that needs it answers 503 + Retry-After within MONGO_QUERY_TIMEOUT_MS,
 * and a route that does not (event intake, broker only) keeps working.
 */
const { config: direct } = testEnv('mongostallhttp', {
  MONGO_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  // read-all's multi-document update has the batch deadline.
  MONGO_BATCH_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
  RETRY_AFTER_SECONDS: '7',
});

describe('producer while MongoDB hangs', () => {
  let proxy: TcpProxy;
  let config: Config;
  let producer: ProducerService;
  let base: string;

  const call = async (method: string, path: string, userId: string, body?: unknown) => {
    const started = performance.now();
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await signUserToken(userId, config.auth.jwtSecret)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // Without a deadline the request would hang: fail the test instead of waiting forever.
      signal: AbortSignal.timeout(QUERY_TIMEOUT_MS * 10),
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Record<string, unknown>,
      ms: performance.now() - started,
    };
  };

  before(async () => {
    ({ proxy, config } = await mongoBehindProxy(direct));
    producer = await bootstrap(config, testLogger);
    base = `http://127.0.0.1:${producer.port}`;
  });
  after(async () => {
    await producer.close();
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('answers 503 + Retry-After on every MongoDB route within the deadline, and still accepts events', async () => {
    assert.equal((await call('GET', '/users/u1/notifications', 'u1')).status, 200, 'healthy before the stall');
    proxy.stall();

    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/users/u1/notifications'],
      ['GET', '/users/u1/notifications/unread-count'],
      ['POST', '/users/u1/notifications/read-all'],
      ['PATCH', '/notifications/n1/read'],
      ['GET', '/notifications/n1/timeline'],
      ['GET', '/users/u1/preferences'],
      ['GET', '/users/u1/followers'],
      ['PUT', '/users/u1/follows/u5', { muted: true }],
      ['GET', '/users'],
    ];
    const answers = await Promise.all(
      routes.map(([method, path, body]) => call(method, path, 'u1', body).then((a) => ({ method, path, ...a }))),
    );
    for (const a of answers) {
      const what = `${a.method} ${a.path}`;
      assert.equal(a.status, 503, `${what}: ${JSON.stringify(a.body)}`);
      assert.equal(a.retryAfter, '7', what);
      assert.equal(a.body.error, 'store_unavailable', what);
      assert.ok(a.ms < QUERY_TIMEOUT_MS + MARGIN_MS, `${what} answered in ${Math.round(a.ms)} ms`);
    }

    // The broker is fine: intake does not wait on MongoDB at all.
    const accepted = await call('POST', '/events', 'u1', {
      type: 'ORDER',
      targetId: 'u1',
      orderId: 'o-stall',
      eventId: 'e-stall',
    });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    // Against the deadline this file sets, not a guess at how fast a machine is: a request that
    // waits on the hung MongoDB is answered no earlier than MONGO_QUERY_TIMEOUT_MS (the routes
    // above), so an answer before it shows intake did not wait on MongoDB at all.
    assert.ok(
      accepted.ms < QUERY_TIMEOUT_MS,
      `intake answered in ${Math.round(accepted.ms)} ms, not before MONGO_QUERY_TIMEOUT_MS (${QUERY_TIMEOUT_MS} ms): it waited on MongoDB`,
    );

    proxy.resume();
  });
});

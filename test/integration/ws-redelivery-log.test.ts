import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { loadConfig } from '../../shared/config.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { capturedLog } from '../helpers/logger.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

const MESSAGE = 'redelivery check failed; the buffer keeps it for replay';

// A short ACK timeout and many re-sends: the checks repeat (each a Redis read) until one meets the
// cut, however long the steps before the cut took.
const { env, config } = testEnv('wsredeliverylog', { ACK_TIMEOUT_MS: '300', MAX_REDELIVERIES: '100' });

/*
 * A redelivery check that fails (the ws-server's Redis unreachable) is logged with the error's
 * message only, as every log line is (errorMessage): a raw error object puts its stack, and
 * whatever the client library attached to it, in the log. The ws-server reaches the real Redis
 * through a TCP proxy that the test cuts; a cluster's nodes announce their own addresses, so its
 * outage is the failover test's (test/cluster/redis-failover.test.ts).
 */
const onCluster = config.redis.cluster ? 'cuts a single Redis server through a TCP proxy' : false;
describe('a failed redelivery check', { skip: onCluster }, () => {
  const redisProxy = new TcpProxy('127.0.0.1', Number(new URL(config.redis.url).port || 6379));
  const log = capturedLog('warn', 'ws-server');
  let server: WsServerService;
  let consumer: SimulatedConsumer;
  let client: WsTestClient | undefined;

  before(async () => {
    await redisProxy.start();
    server = await bootstrap(loadConfig({ ...env, REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` }), log.logger);
    consumer = await SimulatedConsumer.start(config);
  });
  after(async () => {
    client?.close();
    // Redis back first, so the ws-server closes its connections the ordinary way.
    await redisProxy.start();
    await server.close();
    await consumer.close();
    await redisProxy.close();
    await cleanupTestResources(config);
  });

  it('logs the error message, not the error object', async () => {
    [client] = await WsTestClient.authed(server.port, { token: await signUserToken('u1', config.auth.jwtSecret) });
    const n = await consumer.deliver(await consumer.make('u1'));
    await client.waitForNotifications(1); // sent, never acked: its redelivery checks begin
    await redisProxy.cut();

    const line = await eventually(() => log.lines().find((l) => l.msg === MESSAGE && l.notificationId === n.id), {
      what: 'the failed redelivery check to be logged',
    });
    assert.equal(typeof line.err, 'string', `the message, not the error object: ${JSON.stringify(line.err)}`);
    assert.ok(String(line.err).length > 0);
    const checks = log
      .text()
      .split('\n')
      .filter((l) => l.includes(MESSAGE));
    assert.ok(
      checks.every((l) => !l.includes('"stack"')),
      `no stack: ${checks.join('\n')}`,
    );
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { SERVICE_NAMES } from '../../shared/config.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { startBuilt, type RunningService } from '../helpers/process.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { WsTestClient } from '../helpers/ws-client.js';

const SHUTDOWN_TIMEOUT_MS = 5000;

/*
 * SIGTERM while MongoDB accepts connections and never answers: every built service exits 0
 * within SHUTDOWN_TIMEOUT_MS, with queries of its own hung at the time (a history page in the
 * producer, a batch write in jobs, an AUTH's replay in the ws-server). CONNECT_TIMEOUT_MS is longer than the shutdown bound, so
 * neither a hung query nor the driver's goodbye to the server may wait on it.
 */
const base = testEnv('mongostallterm', {
  SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  MONGO_QUERY_TIMEOUT_MS: '1000',
  MONGO_BATCH_TIMEOUT_MS: '1000',
  CONNECT_TIMEOUT_MS: '10000',
  PERSIST_FLUSH_MS: '50',
});

describe('SIGTERM of every built service with MongoDB hung', () => {
  let proxy: TcpProxy;
  let amqp: AmqpClient;
  const running: RunningService[] = [];

  before(async () => {
    const proxied = await mongoBehindProxy(base.config);
    proxy = proxied.proxy;
    const env = { ...base.env, MONGO_URL: proxied.config.mongo.url };
    for (const name of SERVICE_NAMES) running.push(await startBuilt(name, env));
    amqp = await connectAmqp(base.config, testLogger);
  });
  after(async () => {
    for (const s of running) await s.stop('SIGKILL');
    await amqp.close();
    await proxy.close();
    await cleanupTestResources(base.config);
  });

  it('each exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    const service = (name: string) => running.find((s) => s.name === name)!;
    proxy.stall();

    // Work that is waiting on MongoDB when the signal lands.
    const token = await signUserToken('u1', base.config.auth.jwtSecret);
    const history = fetch(`http://127.0.0.1:${service('producer').port}/users/u1/notifications`, {
      headers: { authorization: `Bearer ${token}` },
    }).then(
      (r) => r.status,
      () => 0,
    );
    const publisher = await amqp.createChannel('test-publisher');
    for (let i = 0; i < 10; i++) {
      await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(makeNotification(`u${i}`)), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }
    await publisher.close();
    const socket = await WsTestClient.connect(service('ws-server').port);
    socket.send({ type: 'AUTH', token });
    await new Promise((resolve) => setTimeout(resolve, 300));

    const exits = await Promise.all(
      running.map(async (s) => {
        const started = performance.now();
        const code = await s.stop('SIGTERM');
        return { name: s.name, code, ms: performance.now() - started, output: s.output() };
      }),
    );
    for (const e of exits) {
      assert.equal(e.code, 0, `${e.name} exit code; output:\n${e.output}`);
      assert.ok(e.ms < SHUTDOWN_TIMEOUT_MS, `${e.name} exited after ${Math.round(e.ms)} ms`);
    }
    // The hung page was answered (503) or cut by the shutdown, never left waiting.
    assert.ok([503, 0].includes(await history), 'the history request ended');
    assert.ok(socket.closed, 'the socket was closed');
  });
});

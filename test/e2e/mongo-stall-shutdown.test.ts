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
import { mongoBehindProxy, mongoCommand, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

const SHUTDOWN_TIMEOUT_MS = 5000;
/** MONGO_QUERY_TIMEOUT_MS and MONGO_BATCH_TIMEOUT_MS: how long a sent query may hang before its service gives up on it. */
const QUERY_DEADLINE_MS = 1000;
/** How often the test looks at what a proxy held: a command was sent at most this long before it was seen. */
const POLL_MS = 10;

/*
 * SIGTERM while MongoDB accepts connections and never answers: every built service exits 0
 * within SHUTDOWN_TIMEOUT_MS, with queries of its own hung at the time (a history page in the
 * producer, a batch write in jobs, an AUTH's replay in the ws-server). CONNECT_TIMEOUT_MS is longer than the shutdown bound, so
 * neither a hung query nor the driver's goodbye to the server may wait on it. Each service has a
 * proxy of its own, so what a proxy held names the service whose query hangs.
 */
const base = testEnv('mongostallterm', {
  SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
  // Below SHUTDOWN_TIMEOUT_MS with the producer's answer margin (shared/config.ts).
  PUBLISH_CONFIRM_TIMEOUT_MS: '2000',
  MONGO_QUERY_TIMEOUT_MS: String(QUERY_DEADLINE_MS),
  MONGO_BATCH_TIMEOUT_MS: String(QUERY_DEADLINE_MS),
  CONNECT_TIMEOUT_MS: '10000',
  PERSIST_FLUSH_MS: '50',
});

describe('SIGTERM of every built service with MongoDB hung', () => {
  const proxies = new Map<string, TcpProxy>();
  let amqp: AmqpClient;
  const running: RunningService[] = [];

  before(async () => {
    for (const name of SERVICE_NAMES) {
      const proxied = await mongoBehindProxy(base.config);
      proxies.set(name, proxied.proxy);
      running.push(await startBuilt(name, { ...base.env, MONGO_URL: proxied.config.mongo.url }));
    }
    amqp = await connectAmqp(base.config, testLogger);
  });
  after(async () => {
    for (const s of running) await s.stop('SIGKILL');
    await amqp.close();
    for (const proxy of proxies.values()) await proxy.close();
    await cleanupTestResources(base.config);
  });

  it('each exits 0 within SHUTDOWN_TIMEOUT_MS', async () => {
    const service = (name: string) => running.find((s) => s.name === name)!;
    for (const proxy of proxies.values()) proxy.stall();

    // Work that is waiting on MongoDB when the signal lands, each shown on the wire to the hung
    // server (its command reached the service's proxy after the stall, which held it), not still
    // on its way there. The AUTH goes first: its replay's find comes only once the AUTH's own
    // reads (preferences, unread count) gave up at MONGO_QUERY_TIMEOUT_MS.
    const seenAt = new Map<string, number>();
    const reached = async (name: string, command: string, what: string) => {
      await eventually(() => proxies.get(name)!.heldIncludes(mongoCommand(command, 'notifications')), {
        what: `${what} (${command} on notifications) to reach the stalled MongoDB`,
        timeoutMs: 10_000,
        intervalMs: POLL_MS,
      });
      seenAt.set(name, performance.now());
    };
    const token = await signUserToken('u1', base.config.auth.jwtSecret);
    const socket = await WsTestClient.connect(service('ws-server').port);
    socket.send({ type: 'AUTH', token });
    await reached('ws-server', 'find', "the ws-server's AUTH replay");

    const history = fetch(`http://127.0.0.1:${service('producer').port}/users/u1/notifications`, {
      headers: { authorization: `Bearer ${token}` },
    }).then(
      (r) => r.status,
      () => 0,
    );
    let historyEnded = false;
    void history.finally(() => (historyEnded = true));
    const publisher = await amqp.createChannel('test-publisher');
    for (let i = 0; i < 10; i++) {
      await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(makeNotification(`u${i}`)), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }
    await publisher.close();
    await reached('producer', 'find', "the producer's history page");
    await reached('jobs', 'insert', "jobs' batch write");
    // Sent is not yet given up on. The page still waits on its answer; the replay's find and the
    // batch write were sent too recently for their deadline to have freed them (a poll, and a
    // margin for the event loop, after being sent at the latest).
    assert.equal(historyEnded, false, 'the history request still waits on MongoDB when SIGTERM lands');
    for (const name of ['ws-server', 'jobs']) {
      const hungMs = performance.now() - seenAt.get(name)! + POLL_MS;
      assert.ok(
        hungMs < QUERY_DEADLINE_MS - 100,
        `${name}: its query hung ${Math.round(hungMs)} ms, near its deadline`,
      );
    }

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

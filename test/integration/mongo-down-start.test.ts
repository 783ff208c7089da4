import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap as bootstrapConsumer, type ConsumerService } from '../../consumer/bootstrap.js';
import { bootstrap as bootstrapJobs } from '../../jobs/bootstrap.js';
import { bootstrap as bootstrapProducer, type ProducerService } from '../../producer/bootstrap.js';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { runAll } from '../../shared/lifecycle.js';
import { bootstrap as bootstrapWs, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { intakeAuthorization } from '../helpers/pipeline.js';
import { mongoBehindProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

/** Only a bound on a broken run (a read that hangs instead of failing), not a speed assertion. */
const READ_BOUND_MS = 15_000;

/*
 * MongoDB is unreachable (its port refuses connections) when the services start. The live path
 * touches only Redis and RabbitMQ (docs/architecture.md), so producer, consumer and ws-server
 * start anyway, deliver events to connected sockets, answer MongoDB reads with 503 or their
 * fallbacks, say "degraded" on /readyz, and connect once MongoDB is there. jobs, which writes
 * MongoDB, still refuses to start without it.
 */
const { config: direct } = testEnv('mongodownstart', { CONNECT_TIMEOUT_MS: '2000' });

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string> };
}

async function readiness(port: number): Promise<Readiness> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
}

describe('producer, consumer and ws-server start without MongoDB', () => {
  let proxy: TcpProxy;
  let config: Config;
  let producer: ProducerService | undefined;
  let consumer: ConsumerService | undefined;
  let ws: WsServerService | undefined;
  const clients: WsTestClient[] = [];

  before(async () => {
    ({ proxy, config } = await mongoBehindProxy(direct));
    // The port stays reserved by the test but refuses connections until proxy.start().
    await proxy.cut();
  });
  after(async () => {
    for (const c of clients) c.close();
    await runAll([() => producer?.close(), () => ws?.close(), () => consumer?.close()]);
    await proxy.close();
    await cleanupTestResources(direct);
  });

  it('jobs still refuses to start without MongoDB, naming MONGO_URL', async () => {
    await assert.rejects(bootstrapJobs(config, testLogger), /MONGO_URL: cannot reach MongoDB/);
  });

  it('the others start, deliver an event to a socket, answer MongoDB reads without hanging, and connect once MongoDB is up', async () => {
    consumer = await bootstrapConsumer(config, testLogger);
    ws = await bootstrapWs(config, testLogger);
    producer = await bootstrapProducer(config, testLogger);

    for (const port of [producer.port, consumer.port, ws.port]) {
      assert.deepEqual(await readiness(port), {
        status: 200,
        body: { status: 'degraded', checks: { rabbitmq: 'up', redis: 'up', mongodb: 'down' } },
      });
    }

    // AUTH goes on without MongoDB (no stored replay, the unread count later), then live push.
    const [client] = await WsTestClient.authed(ws.port, {
      token: await signUserToken('target', config.auth.jwtSecret),
    });
    clients.push(client);
    const posted = await fetch(`http://127.0.0.1:${producer.port}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...intakeAuthorization(config) },
      body: JSON.stringify({ type: 'LIKE', actorId: 'actor', targetId: 'target', postId: 'post1' }),
    });
    assert.equal(posted.status, 202);
    const [frame] = await client.waitForNotifications(1);
    assert.equal(frame!.notification.type, 'LIKE');
    // The actor's display name comes from MongoDB behind a Redis miss: the id stands in for it.
    assert.deepEqual(frame!.notification.actors, ['actor']);

    // The read API: a clear 503, not a request that waits for a connection that never comes.
    const history = await fetch(`http://127.0.0.1:${producer.port}/users/target/notifications`, {
      headers: { authorization: `Bearer ${await signUserToken('target', config.auth.jwtSecret)}` },
      signal: AbortSignal.timeout(READ_BOUND_MS),
    });
    assert.equal(history.status, 503);
    assert.ok(history.headers.get('retry-after'), '503 carries Retry-After');

    // MongoDB comes up: every service connects on its own, without a restart.
    await proxy.start();
    for (const port of [producer.port, consumer.port, ws.port]) {
      await eventually(async () => (await readiness(port)).body.status === 'ready', {
        what: `the service on port ${port} to connect to MongoDB`,
        timeoutMs: 60_000,
      });
    }
    const after = await fetch(`http://127.0.0.1:${producer.port}/users/target/notifications`, {
      headers: { authorization: `Bearer ${await signUserToken('target', config.auth.jwtSecret)}` },
      signal: AbortSignal.timeout(READ_BOUND_MS),
    });
    assert.equal(after.status, 200);
  });
});

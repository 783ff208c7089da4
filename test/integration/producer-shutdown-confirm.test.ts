import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import amqplib from 'amqplib';
import { bootstrap, type ProducerService } from '../../producer/bootstrap.js';
import { createTopology, eventsQueueList } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/*
 * close() while a POST waits for its publisher confirm: the request gets its real answer (202
 * once the confirm arrives, 503 when it does not in PUBLISH_CONFIRM_TIMEOUT_MS), not a reset
 * after the HTTP server's default 2 s grace, and the channel closes only after that answer.
 * The broker sits behind a proxy that holds its bytes, so the confirm comes as late as the test says.
 */
const KEY = 'shutdown-confirm-intake-key-0123456789';
const CONFIRM_TIMEOUT_MS = 4500;
const { env, config } = testEnv('prodshutconfirm', {
  INTAKE_API_KEYS: KEY,
  PUBLISH_CONFIRM_TIMEOUT_MS: String(CONFIRM_TIMEOUT_MS),
});
const topology = createTopology(config);
const brokerPort = Number(new URL(config.rabbitmq.url).port || 5672);

/** A producer whose broker connection goes through a proxy of its own. */
async function producerBehindProxy(): Promise<{ producer: ProducerService; proxy: TcpProxy }> {
  const proxy = await new TcpProxy('127.0.0.1', brokerPort).start();
  const producer = await bootstrap(
    loadConfig({ ...env, RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${proxy.port}` }),
    testLogger,
  );
  return { producer, proxy };
}

type Outcome = { status: number; body: Record<string, unknown> } | { error: string };

async function post(port: number, path: string, body: unknown, contentType: string): Promise<Outcome> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `ApiKey ${KEY}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch (err) {
    return { error: String((err as { cause?: unknown }).cause ?? err) };
  }
}

/** The messageIds in the events queues (taken off them). */
async function queuedEventIds(): Promise<string[]> {
  const conn = await amqplib.connect(config.rabbitmq.url);
  try {
    const ch = await conn.createChannel();
    const ids: string[] = [];
    for (const queue of eventsQueueList(topology)) {
      for (;;) {
        const msg = await ch.get(queue, { noAck: true });
        if (msg === false) break;
        ids.push(String(msg.properties.messageId));
      }
    }
    await ch.close();
    return ids;
  } finally {
    await conn.close();
  }
}

const order = (i: number) => ({ type: 'ORDER', targetId: `sc${i}`, orderId: `sc-order-${i}` });

describe('producer close() while a publish waits for its confirm', () => {
  after(() => cleanupTestResources(config));

  it('fast path: the confirm arriving 3 s into close() (past the old 2 s grace) is a 202, and the event is queued', async () => {
    const { producer, proxy } = await producerBehindProxy();
    try {
      await queuedEventIds();
      proxy.stall();
      // No Idempotency-Key: a reset here would leave the client without the eventId to retry with.
      const answer = post(producer.port, '/events', order(1), 'application/json');
      await sleep(300); // the request is in, its publish waiting for the confirm
      const startedMs = Date.now();
      const closed = producer.close();
      await sleep(3000);
      proxy.unstall();
      const outcome = await answer;
      assert.ok('status' in outcome, `an HTTP answer, not ${JSON.stringify(outcome)}`);
      assert.equal(outcome.status, 202, JSON.stringify(outcome.body));
      const eventId = outcome.body.eventId;
      assert.equal(typeof eventId, 'string');
      await closed;
      assert.ok(Date.now() - startedMs < CONFIRM_TIMEOUT_MS + 1500, 'close() is bounded by the confirm timeout');
      assert.ok((await queuedEventIds()).includes(eventId as string), 'the 202 event is in the queue');
    } finally {
      // Held bytes flow again first: a channel closing on a stalled connection would wait forever.
      proxy.unstall();
      await producer.close().catch(() => undefined);
      await proxy.close();
    }
  });

  it('Express route: no confirm within PUBLISH_CONFIRM_TIMEOUT_MS is a 503 with the eventId, and new connections are refused meanwhile', async () => {
    const { producer, proxy } = await producerBehindProxy();
    try {
      proxy.stall();
      // A charset parameter: not the fast path's exact Content-Type, so Express's route answers.
      const answer = post(producer.port, '/events', order(2), 'application/json; charset=utf-8');
      await sleep(300);
      const startedMs = Date.now();
      const closed = producer.close();
      await sleep(100);
      const late = await post(producer.port, '/events', order(3), 'application/json');
      assert.ok('error' in late, `a request after close() starts is refused: ${JSON.stringify(late)}`);
      const outcome = await answer;
      assert.ok('status' in outcome, `an HTTP answer, not ${JSON.stringify(outcome)}`);
      assert.equal(outcome.status, 503, JSON.stringify(outcome.body));
      assert.equal(outcome.body.error, 'broker_unavailable');
      assert.equal(typeof outcome.body.eventId, 'string');
      assert.ok(Date.now() - startedMs >= CONFIRM_TIMEOUT_MS - 500, 'answered on the confirm timeout');
      // The broker comes back so the channel can close cleanly.
      proxy.unstall();
      await closed;
      assert.ok(Date.now() - startedMs < CONFIRM_TIMEOUT_MS + 1500, 'close() is bounded by the confirm timeout');
    } finally {
      // Held bytes flow again first: a channel closing on a stalled connection would wait forever.
      proxy.unstall();
      await producer.close().catch(() => undefined);
      await proxy.close();
    }
  });
});

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connectAmqp } from '../../shared/amqp/connection.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/*
 * close() of the AMQP client waits for the broker's CloseOk of each channel and of the connection,
 * which amqplib waits for without a deadline. A broker that stopped answering (here a proxy that
 * holds every byte, as a stalled network or a frozen node would) must not hold a service's
 * shutdown: close() gives up after its grace, drops the connection and resolves, and the
 * connection manager does not reconnect afterwards.
 */
const { config } = testEnv('amqpclose');
const brokerPort = Number(new URL(config.rabbitmq.url).port || 5672);

describe('AMQP client close() against a broker that stopped answering', () => {
  after(() => cleanupTestResources(config));

  it('resolves within its grace, drops the connection, and connects no more', async () => {
    const proxy = await new TcpProxy('127.0.0.1', brokerPort).start();
    const url = `amqp://guest:guest@127.0.0.1:${proxy.port}`;
    const client = await connectAmqp({ ...config, rabbitmq: { ...config.rabbitmq, url, urls: [url] } }, testLogger);
    await client.createChannel('extra');
    assert.equal(client.isConnected(), true);

    proxy.stall();
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      client.close().then(() => 'closed'),
      new Promise((resolve) => (timer = setTimeout(resolve, 15_000, 'still waiting'))),
    ]).finally(() => clearTimeout(timer));
    const tookMs = Date.now() - started;
    assert.equal(outcome, 'closed', 'close() waited on a broker that never answers');
    // Two bounded steps (the channels' close, then the connection's), and the drop.
    assert.ok(tookMs < 10_000, `close() took ${tookMs} ms`);

    // The manager is closed for good: with the proxy answering again, nothing reconnects.
    proxy.unstall();
    const accepted = proxy.connectionCount();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(proxy.connectionCount(), accepted, 'a closed client connected again');
    await proxy.close();
  });
});

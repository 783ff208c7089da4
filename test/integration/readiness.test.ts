import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type JobsService } from '../../jobs/bootstrap.js';
import { loadConfig } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const base = testEnv('readiness');

async function readiness(port: number): Promise<{ status: number; checks: Record<string, string> }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
}

describe('/readyz follows the real dependencies', () => {
  const redisProxy = new TcpProxy('127.0.0.1', Number(new URL(base.config.redis.url).port || 6379));
  const amqpProxy = new TcpProxy('127.0.0.1', Number(new URL(base.config.rabbitmq.url).port || 5672));
  let service: JobsService;

  before(async () => {
    await redisProxy.start();
    await amqpProxy.start();
    const config = loadConfig({
      ...base.env,
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${amqpProxy.port}`,
      AMQP_HEARTBEAT_SECONDS: '1',
    });
    service = await bootstrap(config, testLogger);
  });
  after(async () => {
    await service.close();
    await service.close();
    await redisProxy.close();
    await amqpProxy.close();
    await cleanupTestResources(base.config);
  });

  it('is 200 when everything is connected', async () => {
    assert.deepEqual(await readiness(service.port), {
      status: 200,
      checks: { rabbitmq: 'up', redis: 'up', mongodb: 'up' },
    });
  });

  it('turns 503 while Redis is unreachable and 200 again when it is back', async () => {
    await redisProxy.cut();
    const down = await eventually(
      async () => {
        const r = await readiness(service.port);
        return r.status === 503 ? r : undefined;
      },
      { what: '/readyz to report redis down' },
    );
    assert.equal(down.checks.redis, 'down');
    assert.equal(down.checks.rabbitmq, 'up');
    await redisProxy.start();
    await eventually(async () => (await readiness(service.port)).status === 200, { what: 'redis to reconnect' });
  });

  it('turns 503 while RabbitMQ is unreachable and 200 again when it is back', async () => {
    await amqpProxy.cut();
    const down = await eventually(
      async () => {
        const r = await readiness(service.port);
        return r.status === 503 ? r : undefined;
      },
      { what: '/readyz to report rabbitmq down' },
    );
    assert.equal(down.checks.rabbitmq, 'down');
    await amqpProxy.start();
    await eventually(async () => (await readiness(service.port)).status === 200, { what: 'rabbitmq to reconnect' });
  });
});

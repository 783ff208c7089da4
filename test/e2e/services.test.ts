import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { SERVICE_NAMES } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { spawnBuilt, startBuilt, type RunningService } from '../helpers/process.js';

const { env, config } = testEnv('services');

describe('the four built services, started the Railway way (SERVICE=<name> node dist/start.js)', () => {
  const running: RunningService[] = [];
  before(async () => {
    for (const name of SERVICE_NAMES) running.push(await startBuilt(name, env));
  });
  after(async () => {
    for (const s of running) await s.stop('SIGKILL');
    await cleanupTestResources(config);
  });

  it('each answers /healthz, /readyz and /metrics', async () => {
    for (const s of running) {
      const health = await fetch(`http://127.0.0.1:${s.port}/healthz`);
      assert.equal(health.status, 200, `${s.name} /healthz`);
      const ready = await fetch(`http://127.0.0.1:${s.port}/readyz`);
      assert.equal(ready.status, 200, `${s.name} /readyz`);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
        rabbitmq: 'up',
        redis: 'up',
        mongodb: 'up',
      });
      const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
      assert.match(metrics, new RegExp(`process_cpu_user_seconds_total\\{service="${s.name}"\\}`));
    }
  });

  it('each runs the service SERVICE names', () => {
    for (const s of running) assert.match(s.output(), new RegExp(`"service":"${s.name}"`));
  });

  it('each exits 0 on SIGTERM', async () => {
    for (const s of running) {
      const code = await s.stop('SIGTERM');
      assert.equal(code, 0, `${s.name} exit code; output:\n${s.output()}`);
      assert.match(s.output(), /stopped/);
    }
  });
});

describe('start-up failures', () => {
  it('a wrong RABBITMQ_URL exits non-zero, naming the variable and the host, without credentials', async () => {
    const { proc, output } = spawnBuilt('consumer', {
      ...env,
      RABBITMQ_URL: 'amqp://guest:sup3rs3cret@127.0.0.1:1',
      CONNECT_TIMEOUT_MS: '1500',
    });
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(output(), /RABBITMQ_URL: cannot reach RabbitMQ at amqp:\/\/127\.0\.0\.1:1/);
    assert.ok(!output().includes('sup3rs3cret'), 'the password never reaches the logs');
    assert.ok(!/\n\s+at /.test(output()), 'a readable message, not a stack trace');
  });

  it('a malformed variable exits non-zero before connecting, naming it', async () => {
    const { proc, output } = spawnBuilt('producer', { ...env, REDIS_URL: 'localhost:6379' });
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(output(), /REDIS_URL: /);
  });

  it('startBuilt rejects as soon as the service exits during start-up, with the end of its output', async () => {
    // The rejection must come from the exit, not from the helper's 60 s bound on listening.
    await assert.rejects(
      startBuilt('producer', { ...env, REDIS_URL: 'localhost:6379' }),
      /^Error: waiting for producer to listen: the process exited \(code 1\) first; the end of its output:\n[^]*REDIS_URL: /,
    );
  });

  it('an unknown SERVICE exits non-zero and lists the valid names', async () => {
    const { proc, output } = spawnBuilt('mailer', env);
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(output(), /SERVICE: .*producer, consumer, ws-server, jobs/);
  });
});

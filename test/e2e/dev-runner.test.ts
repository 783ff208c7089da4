import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { DEV_INTAKE_API_KEY, SERVICE_NAMES } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { childEnv, ROOT, untilOutput } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const { env, config } = testEnv('devrunner', { LOG_PRETTY: 'false', LOG_LEVEL: 'info' });

/** `npm run dev` (scripts/dev.sh), the README's first command after `npm ci`. */
describe('the dev runner', () => {
  after(async () => {
    await cleanupTestResources(config);
  });

  it('starts the infrastructure, the four services and the seed, and Ctrl-C stops them all', async () => {
    // A PORT left in the shell (a platform's, a cloud IDE's) must not pull all four onto one port.
    const strayPort = String(20_000 + Math.floor(Math.random() * 20_000));
    const dev = spawn('bash', ['scripts/dev.sh'], {
      cwd: ROOT,
      env: childEnv({ ...env, NODE_ENV: 'development', PORT: strayPort }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    dev.stdout.on('data', (d: Buffer) => (output += d.toString()));
    dev.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      // At once if the runner exits first (a server it could not start), with what it printed.
      const ports = await untilOutput(
        dev,
        () => output,
        (text) => {
          const found = new Map<string, number>();
          for (const name of SERVICE_NAMES) {
            const match = new RegExp(`\\[${name}\\] .*"port":(\\d+)[^\\n]*listening`).exec(text);
            if (match) found.set(name, Number(match[1]));
          }
          return found.size === SERVICE_NAMES.length ? found : undefined;
        },
        { what: 'all four services to listen', timeoutMs: 90_000 },
      );
      for (const [name, port] of ports) {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(res.status, 200, `${name} /healthz`);
      }
      await eventually(() => output.includes('[seed] ') && output.includes('Demo users seeded'), {
        what: 'the seed to print how to connect',
        timeoutMs: 60_000,
      });
      assert.match(output, /dev: WS_AUTH_MODE=dev/);
      assert.equal(new Set(ports.values()).size, SERVICE_NAMES.length, 'four ports, none of them PORT');
      assert.ok(![...ports.values()].includes(Number(strayPort)));
      // The command the seed prints names WS_PORT (0 here: the test's services take free ports), not PORT.
      assert.match(output, /\[seed\]\s+npx wscat -c ws:\/\/localhost:\d+/);
      assert.ok(!output.includes(`localhost:${strayPort}`), 'the seed printed the stray PORT');

      // Intake takes the development key the runner prints (the README's curl sends it), and only it.
      assert.ok(output.includes(`dev: intake key ${DEV_INTAKE_API_KEY}`));
      const postEvent = (headers: Record<string, string>) =>
        fetch(`http://127.0.0.1:${ports.get('producer')}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post3' }),
        });
      assert.equal((await postEvent({})).status, 401);
      assert.equal((await postEvent({ authorization: `ApiKey ${DEV_INTAKE_API_KEY}` })).status, 202);

      process.kill(-dev.pid!, 'SIGINT');
      // 'close', not 'exit': the last log lines may still be in the pipe when bash exits.
      const [code] = (await once(dev, 'close')) as [number | null];
      assert.equal(code, 0, output);
      assert.match(output, /all services stopped/);
      for (const name of SERVICE_NAMES) assert.match(output, new RegExp(`\\[${name}\\] .*${name} stopped`));
    } finally {
      if (dev.exitCode === null) process.kill(-dev.pid!, 'SIGKILL');
    }
  });
});

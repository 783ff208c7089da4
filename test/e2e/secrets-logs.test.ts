import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { ConfigError, DEV_JWT_SECRET, loadConfig, SERVICE_NAMES } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { spawnBuilt, startBuilt, type RunningService } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';
import { AppClient } from '../helpers/app-client.js';
import { WsTestClient } from '../helpers/ws-client.js';

/*
 * Secrets never reach the logs. The four built services run at debug level through a session
 * that handles every kind of credential (the broker password in RABBITMQ_URL, the JWT secret,
 * the intake API keys, user tokens on HTTP and on the socket, forged tokens and keys), then their
 * whole output is scanned.
 */
const JWT_SECRET = 'secret-scan-jwt-secret-0123456789-abcdefghijklmnop';
const INTAKE_KEY = randomBytes(32).toString('base64');
const OLD_INTAKE_KEY = randomBytes(32).toString('base64url');
const { env, config } = testEnv('secrets', {
  JWT_SECRET,
  LOG_LEVEL: 'debug',
  WS_AUTH_MODE: 'token',
  INTAKE_API_KEYS: `${INTAKE_KEY},${OLD_INTAKE_KEY}`,
});

describe('no secret in any log line', () => {
  const running: RunningService[] = [];
  const secrets: string[] = [JWT_SECRET, 'guest:guest', INTAKE_KEY, OLD_INTAKE_KEY];

  before(async () => {
    for (const name of SERVICE_NAMES) running.push(await startBuilt(name, env));
  });
  after(async () => {
    for (const s of running) await s.stop('SIGKILL');
    await cleanupTestResources(config);
  });

  it('a session with tokens, bad tokens and events leaves no secret in the output', async () => {
    const port = (name: string) => running.find((s) => s.name === name)!.port;
    const token = await signUserToken('user2', JWT_SECRET);
    const forged = await signUserToken('user2', 'an-attacker-secret-that-is-long-enough-0123');
    secrets.push(token, forged);

    const client = await AppClient.open(port('ws-server'), { token });
    const producer = `http://127.0.0.1:${port('producer')}`;
    const postEvent = (authorization: string) =>
      fetch(`${producer}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post1' }),
      });
    // Refused credentials first: a wrong key (close to a real one), a user's token on intake.
    const wrongKey = `${INTAKE_KEY.slice(0, -4)}AAAA`;
    secrets.push(wrongKey);
    assert.equal((await postEvent(`ApiKey ${wrongKey}`)).status, 401);
    assert.equal((await postEvent(`Bearer ${token}`)).status, 401);
    assert.equal(
      (await fetch(`${producer}/users/user2/notifications`, { headers: { authorization: `ApiKey ${INTAKE_KEY}` } }))
        .status,
      401,
    );
    assert.equal((await postEvent(`ApiKey ${OLD_INTAKE_KEY}`)).status, 202);
    const [n] = await client.waitForNotifications(1);
    await client.ack(n!.id);
    const history = await fetch(`${producer}/users/user2/notifications`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(history.status, 200);
    const refused = await fetch(`${producer}/users/user2/notifications`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    assert.equal(refused.status, 401);
    const intruder = await WsTestClient.connect(port('ws-server'));
    intruder.send({ type: 'AUTH', token: forged });
    assert.equal((await intruder.waitClosed()).code, 4401);
    await client.close();

    for (const s of running) assert.equal(await s.stop('SIGTERM'), 0, `${s.name} exits 0`);
    const output = running.map((s) => s.output()).join('\n');
    await eventually(() => /stopped/.test(output), { what: 'shutdown logs' });
    assert.ok(output.split('\n').length > 20, 'the scan read a real debug log');
    for (const secret of secrets) assert.ok(!output.includes(secret), `a log line contains ${secret.slice(0, 12)}…`);
    assert.ok(!/eyJ[\w-]{10,}\.[\w-]{10,}/.test(output), 'no JWT-looking string in the logs');
  });
});

describe('JWT secret rules', () => {
  const problemsOf = (vars: Record<string, string>) => {
    try {
      loadConfig(vars);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
  };

  it('production refuses a missing, weak or the public development secret', () => {
    assert.match(problemsOf({ NODE_ENV: 'production' }).join(), /JWT_SECRET: .*required/);
    assert.match(
      problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(31) }).join(),
      /JWT_SECRET: .*at least 32/,
    );
    assert.match(
      problemsOf({ NODE_ENV: 'production', JWT_SECRET: DEV_JWT_SECRET }).join(),
      /JWT_SECRET: .*development secret/,
    );
    assert.deepEqual(
      problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'p'.repeat(32), INTAKE_API_KEYS: 'k'.repeat(32) }),
      [],
    );
  });

  it('a production service without a secret stops at start-up, naming the variable', async () => {
    const { JWT_SECRET: _omitted, ...rest } = env;
    const { proc, output } = spawnBuilt('ws-server', { ...rest, NODE_ENV: 'production' });
    const [code] = (await once(proc, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(output(), /JWT_SECRET/);
  });

  it('a production producer without an intake key, or with a short one, stops at start-up naming INTAKE_API_KEYS and never prints the key', async () => {
    const { INTAKE_API_KEYS: _omitted, ...rest } = env;
    const shortKey = 'short-but-secret-intake-key';
    for (const vars of [{}, { INTAKE_API_KEYS: `${INTAKE_KEY},${shortKey}` }] as Array<Record<string, string>>) {
      const { proc, output } = spawnBuilt('producer', { ...rest, ...vars, NODE_ENV: 'production' });
      const [code] = (await once(proc, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.match(output(), /INTAKE_API_KEYS/);
      assert.ok(!output().includes(shortKey) && !output().includes(INTAKE_KEY), 'the start-up error repeats a key');
    }
  });
});

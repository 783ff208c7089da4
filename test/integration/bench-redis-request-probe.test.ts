import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CommandStatsReader, readRequestProbe, REDIS_PROBE_NODE_OPTIONS } from '../../bench/redis-counters.js';
import { deleteQueuesAndKeys } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const { config } = testEnv('benchredisprobe');

/** Three commands inside the script: Redis counts them, the client sent one EVAL. */
const SCRIPT = "redis.call('set', KEYS[1], 'x'); redis.call('get', KEYS[1]); redis.call('incr', KEYS[2]); return 1";

/**
 * A process that uses ioredis the ways the services do: a command issued before the connection
 * is ready (ioredis's offline queue), a script, a MULTI, concurrent commands, a pipeline.
 */
const CLIENT = `
import { Redis } from 'ioredis';
const redis = new Redis(process.env.REDIS_URL, { keyPrefix: process.env.PREFIX });
const queued = redis.get('k');
await new Promise((resolve) => redis.once('ready', resolve));
await queued;
await redis.eval(${JSON.stringify(SCRIPT)}, 2, 'a', 'b');
await redis.multi().set('c', '1').expire('c', 60).exec();
await Promise.all([redis.get('a'), redis.get('b')]);
const pipeline = redis.pipeline();
pipeline.get('a');
pipeline.get('b');
await pipeline.exec();
process.stdout.write('done\\n');
setInterval(() => undefined, 1000);
`;

describe('bench/redis-request-probe.mjs: the Redis requests a process sends', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let stats: CommandStatsReader | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'redis-probe-'));
  });
  after(async () => {
    child?.kill('SIGKILL');
    stats?.close();
    await rm(dir, { recursive: true, force: true });
    await deleteQueuesAndKeys(config);
  });

  it('counts each command once as it leaves, a script as one request; Redis counts the script’s commands too', async () => {
    const socket = join(dir, 'client.sock');
    stats = new CommandStatsReader(config.redis.url);
    const before = await stats.snapshot();
    let output = '';
    child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: config.redis.url,
        PREFIX: config.redis.keyPrefix,
        NODE_OPTIONS: REDIS_PROBE_NODE_OPTIONS,
        BENCH_REDIS_PROBE_SOCKET: socket,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await eventually(() => output.includes('done') || undefined, {
      what: 'the client to finish',
      timeoutMs: 10_000,
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}; its output:\n${output}`);
    });

    const requests = await readRequestProbe(socket);
    // CLIENT SETINFO (library name and version) and INFO (the ready check) are ioredis's connection
    // set-up; the queued GET is counted once although it passes through sendCommand twice.
    assert.deepEqual(requests, { client: 2, info: 1, get: 5, eval: 1, multi: 1, set: 1, expire: 1, exec: 1 });

    // The same work as Redis counts it (other clients of this Redis may add to it, never take away).
    const last = await stats.snapshot();
    const executed = CommandStatsReader.delta(before, last);
    // The snapshot's second INFO (persistence) says how many AOF rewrites the server has done (Redis 7 with AOF on, as here).
    assert.equal(typeof last.aofRewrites, 'number');
    assert.ok((executed.incr ?? 0) >= 1, 'the INCR inside the script counts as a command');
    assert.ok((executed.set ?? 0) >= 2, 'the SET inside the script and the one in the MULTI');
    assert.ok((executed.get ?? 0) >= 6, 'five GETs sent and one inside the script');
  });
});

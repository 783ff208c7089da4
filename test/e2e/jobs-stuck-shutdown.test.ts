import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { connectAmqp, type AmqpClient } from '../../shared/amqp/connection.js';
import { encodeJson, JSON_CONTENT_TYPE } from '../../shared/messages.js';
import { models } from '../../shared/models/index.js';
import { connectMongo, type Connection } from '../../shared/mongo.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { makeNotification } from '../helpers/notifications.js';
import { ROOT, untilOutput } from '../helpers/process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

const base = testEnv('jobsstuck');
const mongoTarget = new URL(base.config.mongo.url);
const proxy = new TcpProxy(mongoTarget.hostname, Number(mongoTarget.port || 27017));

function startJobs(): { proc: ChildProcess; output(): string } {
  const mongoUrl = new URL(base.config.mongo.url);
  mongoUrl.host = `127.0.0.1:${proxy.port}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'jobs/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      ...base.env,
      MONGO_URL: mongoUrl.toString(),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '3000',
      // Below SHUTDOWN_TIMEOUT_MS with the producer's answer margin (shared/config.ts).
      PUBLISH_CONFIRM_TIMEOUT_MS: '1000',
      MONGO_QUERY_TIMEOUT_MS: '1000',
      MONGO_BATCH_TIMEOUT_MS: '1000',
      PERSIST_FLUSH_MS: '50',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

/** Waits for jobs to listen; a failure (at once if jobs exits) says how jobs ended, with what it printed. */
async function listening(jobs: { proc: ChildProcess; output(): string }): Promise<void> {
  await untilOutput(jobs.proc, jobs.output, (text) => /jobs listening/.test(text) || undefined, {
    what: 'jobs to start',
  });
}

/**
 * SIGTERM while a batch write hangs on an unreachable MongoDB: jobs must still exit 0 within
 * SHUTDOWN_TIMEOUT_MS, handing the batch back to the broker, and a restarted jobs writes it.
 */
describe('jobs shutdown with a batch stuck on MongoDB', () => {
  let amqp: AmqpClient;
  let mongo: Connection;
  before(async () => {
    await proxy.start();
    amqp = await connectAmqp(base.config, testLogger);
    mongo = await connectMongo(base.config, testLogger);
  });
  after(async () => {
    await amqp.close();
    await mongo.close();
    await proxy.close();
    await cleanupTestResources(base.config);
  });

  it('exits 0 and loses nothing', async () => {
    const first = startJobs();
    await listening(first);
    proxy.stall();

    const publisher = await amqp.createChannel('test-publisher');
    const jobs = Array.from({ length: 20 }, (_, i) => makeNotification(`u${i}`));
    for (const n of jobs) {
      await publisher.sendToQueue(amqp.topology.persistQueue, encodeJson(n), {
        persistent: true,
        contentType: JSON_CONTENT_TYPE,
      });
    }
    // The batch is taken (unacked) and its write is waiting on MongoDB.
    await eventually(async () => (await publisher.checkQueue(amqp.topology.persistQueue)).messageCount === 0, {
      what: 'jobs to take the batch',
    });

    const exited = once(first.proc, 'exit') as Promise<[number | null]>;
    first.proc.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, first.output());

    await proxy.cut();
    await proxy.start();
    const second = startJobs();
    try {
      const stored = await eventually(
        async () => {
          const count = await models(mongo).Notification.countDocuments({ _id: { $in: jobs.map((n) => n.id) } });
          return count === jobs.length ? count : undefined;
        },
        { what: 'the handed-back batch to be stored by the restarted jobs', timeoutMs: 60_000 },
      );
      assert.equal(stored, jobs.length);
    } finally {
      second.proc.kill('SIGKILL');
      await publisher.close();
    }
  });
});

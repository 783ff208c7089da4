import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { testEnv } from '../helpers/config.js';
import { ROOT } from '../helpers/process.js';

/**
 * The integration tests about the broker's part run again with AMQP_QUEUE_TYPE=quorum (test
 * helpers' testEnv passes it on), against the same local broker: a single node serves quorum
 * queues too, without replication. What a node loss does to them is
 * test/integration/amqp-quorum.test.ts, on the 3-node cluster.
 */
const FILES = [
  // declaration, publish with confirm, a TTL queue dead-lettering into its work queue
  'amqp.test.ts',
  // the retry and dead-letter envelope on the events and persist queues
  'amqp-envelope.test.ts',
  // priority: one queue per category, taken highest first by the consumer
  'consumer-priority.test.ts',
  // the consumer's retries through the per-category retry ladder, and exhaustion
  'consumer-retry.test.ts',
  // the do-not-disturb wake ladder
  'delayed-wake.test.ts',
  // acks after a reconnect: never on the new channel (what a cluster node's loss makes happen)
  'consumer-reconnect.test.ts',
  // jobs' persist and acks retry ladders
  'jobs-retry.test.ts',
  // the producer routes each category to its queue, with its priority
  'producer-http.test.ts',
];

/**
 * Each file alone takes 3-25 s; this whole file has the runner's 300 s, which one killed child
 * (75 + 15 s) and eight slow ones still fit in. A child's file gets its own
 * budget (`--test-timeout` bounds the file's whole run, hooks included): just before it runs out,
 * the file's process writes what keeps its event loop alive (test/helpers/report-handles.mjs),
 * and the runner then ends it. Should the child's runner itself not end, it is killed a little
 * later. Either way the failure names the file, with its log and that report, instead of this
 * whole file timing out with nothing to read.
 */
const CHILD_TIMEOUT_MS = 75_000;
const REPORT_HANDLES_AFTER_MS = CHILD_TIMEOUT_MS - 3000;
const CHILD_DEADLINE_MS = CHILD_TIMEOUT_MS + 15_000;

// Without NODE_TEST_CONTEXT: the runner sets it for the files it runs, and a child that inherits
// it takes itself for a nested run and runs nothing. Logs at debug (the test logger is silent by
// default): only a failing run's tail is shown, and then what the services did is what is wanted.
const { NODE_TEST_CONTEXT: _nested, ...inherited } = process.env;
const childEnv = {
  ...inherited,
  AMQP_QUEUE_TYPE: 'quorum',
  TEST_LOG_LEVEL: inherited.TEST_LOG_LEVEL ?? 'debug',
  NODE_OPTIONS: `${inherited.NODE_OPTIONS ?? ''} --import=${pathToFileURL(resolve(ROOT, 'test/helpers/report-handles.mjs')).href}`,
  REPORT_HANDLES_AFTER_MS: String(REPORT_HANDLES_AFTER_MS),
};

async function runBounded(file: string): Promise<{ code: number | null; output: string; killed: boolean }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=tap',
      `--test-timeout=${CHILD_TIMEOUT_MS}`,
      resolve(ROOT, 'test/integration', file),
    ],
    // Its own process group: the runner runs the file in a grandchild, which must go with it.
    { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let killed = false;
  const deadline = setTimeout(() => {
    killed = true;
    process.kill(-child.pid!, 'SIGKILL');
  }, CHILD_DEADLINE_MS);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, output, killed };
  } finally {
    clearTimeout(deadline);
  }
}

describe('the broker integration tests with every queue a quorum queue', () => {
  it('the test config takes AMQP_QUEUE_TYPE from the environment (else the runs below would be classic)', () => {
    const saved = process.env.AMQP_QUEUE_TYPE;
    process.env.AMQP_QUEUE_TYPE = 'quorum';
    try {
      assert.equal(testEnv('quorumenv').config.rabbitmq.queueType, 'quorum');
    } finally {
      if (saved === undefined) delete process.env.AMQP_QUEUE_TYPE;
      else process.env.AMQP_QUEUE_TYPE = saved;
    }
  });

  for (const file of FILES) {
    it(file, async () => {
      const { code, output, killed } = await runBounded(file);
      assert.ok(
        !killed,
        `${file} did not finish within ${CHILD_DEADLINE_MS} ms with AMQP_QUEUE_TYPE=quorum:\n${output.slice(-12_000)}`,
      );
      const passed = Number(/^# pass (\d+)$/m.exec(output)?.[1] ?? 0);
      assert.equal(code, 0, `${file} failed with AMQP_QUEUE_TYPE=quorum:\n${output.slice(-12_000)}`);
      assert.ok(passed > 0, `${file} ran no test:\n${output.slice(-2000)}`);
      assert.match(output, /^# fail 0$/m);
      assert.match(output, /^# skipped 0$/m, 'nothing skipped');
    });
  }
});

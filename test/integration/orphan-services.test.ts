import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers/process.js';
import { eventually } from '../helpers/wait.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The bench and the process tests start the built services as children. When the harness dies
 * without its cleanup (killed, out of memory), its services must not run on, holding ports and
 * both cores for whatever runs next.
 */
describe('built services started by a harness', () => {
  it('stop when the harness is killed without cleaning up', async () => {
    const harness = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'test/fixtures/orphan/harness.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    harness.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const child = await eventually(() => Number(/child (\d+)/.exec(text)?.[1]) || undefined, {
      what: 'the harness to start its producer',
      timeoutMs: 60_000,
    });
    assert.ok(alive(child), 'the producer runs');
    harness.kill('SIGKILL');
    try {
      await eventually(() => !alive(child) || undefined, {
        what: `the orphaned producer (pid ${child}) to stop`,
        timeoutMs: 20_000,
      });
    } finally {
      if (alive(child)) process.kill(child, 'SIGKILL');
    }
  });
});

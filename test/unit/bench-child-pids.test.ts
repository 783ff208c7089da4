import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { childPids } from '../../bench/process-stats.js';

/** The bench counts a server's forked children with it (PostgreSQL's backends, Redis's AOF rewrite). */
describe('bench/process-stats childPids', () => {
  it('lists the children of a process, and only while they live', async () => {
    const a = spawn('sleep', ['30'], { stdio: 'ignore' });
    const b = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await Promise.all([once(a, 'spawn'), once(b, 'spawn')]);
      const children = childPids(process.pid);
      assert.ok(children.includes(a.pid!), `${a.pid} in ${JSON.stringify(children)}`);
      assert.ok(children.includes(b.pid!), `${b.pid} in ${JSON.stringify(children)}`);
      // A child's own children are not the parent's.
      assert.deepEqual(childPids(a.pid!), []);
    } finally {
      a.kill();
      b.kill();
    }
    await Promise.all([once(a, 'exit'), once(b, 'exit')]);
    const after = childPids(process.pid);
    assert.ok(!after.includes(a.pid!) && !after.includes(b.pid!), JSON.stringify(after));
  });

  it('is empty for a process that does not exist', () => {
    assert.deepEqual(childPids(2 ** 22 + 1), []);
  });
});

import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/process.js';

const run = promisify(execFile);

/**
 * scripts/redis-cluster.sh, on ports (7201-7206, bus 17201-17206) and a state dir of this file's
 * own. The failover tests kill a master right after `up` brought a stopped cluster back; a master
 * whose replica was still syncing then had nobody to take over, and `kill-master` failed ("no
 * master with a replica answers", CI on 2026-12-07). `up` now returns only once every replica has
 * finished its sync.
 */
const FIRST_PORT = 7201;
const PORTS = Array.from({ length: 6 }, (_, i) => FIRST_PORT + i);

describe('scripts/redis-cluster.sh', () => {
  let dataDir: string;
  const script = async (...args: string[]) =>
    (
      await run('bash', [resolve(ROOT, 'scripts/redis-cluster.sh'), ...args], {
        // Only what the script needs: no REDIS_CLUSTER_* of the caller's shell leaks into this cluster.
        env: { PATH: process.env.PATH ?? '', SERVICES_DATA_DIR: dataDir, REDIS_CLUSTER_PORT: String(FIRST_PORT) },
        timeout: 180_000,
      })
    ).stdout;
  const cli = async (port: number, ...args: string[]) =>
    (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout.replace(
      /\r/g,
      '',
    );
  /** Each master's replicas that have finished their sync (ROLE lists no other). */
  const syncedReplicas = async () => {
    const out: Record<number, number[]> = {};
    for (const port of PORTS) {
      const lines = (await cli(port, 'ROLE').catch(() => '')).split('\n');
      if (lines[0] === 'master') out[port] = lines.filter((_, i) => i >= 2 && (i - 2) % 3 === 1).map(Number);
    }
    return out;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'redis-cluster-script-'));
  });
  after(async () => {
    await script('down').catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('`up` on a stopped cluster returns only when every master has a synced replica, and `kill-master` fails over', async () => {
    await script('up');
    // Data on every master, so a restart has something to sync.
    const client = new Cluster([{ host: '127.0.0.1', port: FIRST_PORT }]);
    try {
      await Promise.all(Array.from({ length: 300 }, (_, i) => client.set(`k${i}`, 'x'.repeat(100))));
    } finally {
      client.disconnect();
    }
    await script('down');

    await script('up');
    const replicas = await syncedReplicas();
    assert.equal(Object.keys(replicas).length, 3, `three masters: ${JSON.stringify(replicas)}`);
    for (const [master, synced] of Object.entries(replicas))
      assert.equal(synced.length, 1, `master ${master} has a synced replica as soon as up returns`);
    for (const port of PORTS) {
      if (Object.hasOwn(replicas, port)) continue;
      assert.match(await cli(port, 'INFO', 'replication'), /^master_link_status:up$/m, `replica ${port} linked`);
    }

    const out = await script('kill-master');
    const took = /redis (\d+): took over from (\d+)/.exec(out);
    assert.ok(took, out);
    assert.equal((await cli(Number(took[1]), 'ROLE')).split('\n')[0], 'master');
    // The replica held what its master had: every key is still in the cluster.
    let keys = 0;
    for (const master of Object.keys(await syncedReplicas())) keys += Number(await cli(Number(master), 'DBSIZE'));
    assert.equal(keys, 300);
  });
});

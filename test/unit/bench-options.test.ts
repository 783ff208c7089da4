import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULTS, HelpRequested, OptionsError, parseOptions } from '../../bench/options.js';

/** The bench's knobs are flags (bench/options.ts), not variables of its environment. */
describe('bench options', () => {
  it('takes the PostgreSQL port and the ws-server NODE_OPTIONS as flags, with defaults', () => {
    assert.equal(parseOptions([]).postgresPort, DEFAULTS.postgresPort);
    assert.equal(parseOptions([]).wsNodeOptions, '');
    const o = parseOptions([
      '--postgres-port',
      '5499',
      '--ws-node-options=--import ./profiler.mjs --max-old-space-size=512',
    ]);
    assert.equal(o.postgresPort, 5499);
    assert.equal(o.wsNodeOptions, '--import ./profiler.mjs --max-old-space-size=512');
  });

  it('refuses a port that is not one, naming the flag', () => {
    for (const bad of ['0', '65536', 'x', '5.5']) {
      assert.throws(
        () => parseOptions(['--postgres-port', bad]),
        (err: unknown) => err instanceof OptionsError && /--postgres-port/.test(err.message),
      );
    }
  });

  it('--help is the usage, listing the new flags, and `npm run bench -- --help` exits 0', () => {
    assert.throws(
      () => parseOptions(['--help']),
      (err: unknown) =>
        err instanceof HelpRequested && /--postgres-port/.test(err.message) && /--ws-node-options/.test(err.message),
    );
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', resolve(import.meta.dirname, '../../bench/main.ts'), '--help'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run bench/);
  });
});

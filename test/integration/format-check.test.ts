import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../helpers/process.js';

/**
 * `npm run lint` starts with scripts/format.sh --check: Prettier over the tracked code files of
 * the checkout it runs in. Shown here in a scratch git repository with the project's style file.
 */
describe('format check (scripts/format.sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'format-check-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: dir });
  const check = () => spawnSync('bash', [join(ROOT, 'scripts/format.sh')], { cwd: dir, encoding: 'utf8' });

  git('init', '-q');
  copyFileSync(join(ROOT, '.prettierrc.json'), join(dir, '.prettierrc.json'));
  writeFileSync(join(dir, 'good.ts'), "export const greeting = 'hello';\n");
  writeFileSync(join(dir, 'bad.ts'), 'export const greeting = "hello"\n');
  writeFileSync(join(dir, 'scratch.mjs'), 'const   x = "someone trying things"\n');
  git('add', '.prettierrc.json', 'good.ts', 'bad.ts');

  it('fails naming a tracked file that is not formatted, and never looks at untracked ones', () => {
    const run = check();
    assert.equal(run.status, 1, run.stdout + run.stderr);
    const output = run.stdout + run.stderr;
    assert.match(output, /bad\.ts/);
    assert.doesNotMatch(output, /good\.ts|scratch\.mjs/);
  });

  it('passes once the tracked files are formatted, a scratch file beside them notwithstanding', () => {
    const write = spawnSync('bash', [join(ROOT, 'scripts/format.sh'), '--write'], { cwd: dir, encoding: 'utf8' });
    assert.equal(write.status, 0, write.stdout + write.stderr);
    const run = check();
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(readFileSync(join(dir, 'bad.ts'), 'utf8'), "export const greeting = 'hello';\n");
  });

  it('refuses an unknown mode with its usage', () => {
    const run = spawnSync('bash', [join(ROOT, 'scripts/format.sh'), '--fix'], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /usage: bash scripts\/format.sh/);
  });
});

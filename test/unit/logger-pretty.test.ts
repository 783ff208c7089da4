import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { transformSync } from 'esbuild';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The production image installs only production dependencies, so pino-pretty is missing there.
 * Rebuilt here: shared/logger.ts compiled into a directory outside the project whose
 * node_modules holds pino and nothing else, and run by plain node (tsx would put its own files,
 * next to the project's pino-pretty, on the stack pino resolves transports from), so pino-pretty
 * resolves exactly as from the image's dist/shared/logger.js: not at all.
 */
describe('LOG_PRETTY without pino-pretty installed (the production image)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'logger-pretty-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('logs JSON and warns once, instead of failing at start-up', async () => {
    mkdirSync(join(dir, 'shared'));
    mkdirSync(join(dir, 'node_modules'));
    const source = readFileSync(join(root, 'shared/logger.ts'), 'utf8');
    writeFileSync(join(dir, 'shared/logger.js'), transformSync(source, { loader: 'ts', format: 'esm' }).code);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    symlinkSync(join(root, 'node_modules/pino'), join(dir, 'node_modules/pino'), 'dir');
    writeFileSync(
      join(dir, 'probe.js'),
      [
        "import { createLogger } from './shared/logger.js';",
        "const logger = createLogger({ log: { level: 'info', pretty: true } }, 'probe');",
        "logger.info({ n: 1 }, 'after start-up');",
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, [join(dir, 'probe.js')], { cwd: dir, timeout: 30_000 });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; service: string; n?: number });
    assert.equal(lines.length, 2, stdout);
    assert.equal(lines[0]!.level, 40, 'a warning first');
    assert.match(lines[0]!.msg, /LOG_PRETTY=true, but pino-pretty .* is not installed: logging JSON/);
    assert.deepEqual(
      { msg: lines[1]!.msg, service: lines[1]!.service, n: lines[1]!.n },
      { msg: 'after start-up', service: 'probe', n: 1 },
    );
  });
});

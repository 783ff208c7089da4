import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

/** The boundary rules are only worth having if they actually fire; lint fixtures prove it. */
const eslint = new ESLint({ ignore: false });

async function ruleIdsFor(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

describe('lint rules', () => {
  it('fails when consumer/ imports from producer/', async () => {
    const ids = await ruleIdsFor(
      "import { bootstrap } from '../producer/bootstrap.js';\nexport const b = bootstrap;\n",
      'consumer/fixture.ts',
    );
    assert.deepEqual(ids, ['import-x/no-restricted-paths']);
  });

  it('fails when shared/ imports any service', async () => {
    const ids = await ruleIdsFor(
      "import { bootstrap } from '../jobs/bootstrap.js';\nexport const b = bootstrap;\n",
      'shared/fixture.ts',
    );
    assert.deepEqual(ids, ['import-x/no-restricted-paths']);
  });

  it('allows a service to import shared/', async () => {
    const ids = await ruleIdsFor(
      "import { loadConfig } from '../shared/config.js';\nexport const c = loadConfig;\n",
      'consumer/fixture.ts',
    );
    assert.deepEqual(ids, []);
  });

  it('keeps client/ browser-safe: shared/protocol/ only, no Node or server package', async () => {
    const allowed = await ruleIdsFor(
      "import { CLOSE } from '../shared/protocol/frames.js';\nexport const c = CLOSE;\n",
      'client/fixture.ts',
    );
    assert.deepEqual(allowed, []);
    const shared = await ruleIdsFor(
      "import { keys } from '../shared/keys.js';\nexport const k = keys;\n",
      'client/fixture.ts',
    );
    assert.deepEqual(shared, ['import-x/no-restricted-paths']);
    const node = await ruleIdsFor(
      "import { WebSocket } from 'ws';\nexport const w = WebSocket;\n",
      'client/fixture.ts',
    );
    assert.deepEqual(node, ['no-restricted-imports']);
    const builtin = await ruleIdsFor(
      "import { readFile } from 'node:fs/promises';\nexport const r = readFile;\n",
      'shared/protocol/fixture.ts',
    );
    assert.deepEqual(builtin, ['no-restricted-imports']);
  });

  it('fails on an import cycle', async () => {
    const [result] = await eslint.lintFiles(['test/fixtures/cycle/a.ts']);
    assert.ok(
      result!.messages.some((m) => m.ruleId === 'import-x/no-cycle'),
      JSON.stringify(result!.messages),
    );
  });

  it('fails when a service reads process.env directly', async () => {
    const ids = await ruleIdsFor('export const url = process.env.REDIS_URL;\n', 'ws-server/fixture.ts');
    assert.deepEqual(ids, ['no-restricted-syntax']);
  });
});

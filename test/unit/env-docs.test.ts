import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { knownEnvVars, loadConfig } from '../../shared/config.js';

const root = new URL('../../', import.meta.url);
const envExample = readFileSync(new URL('.env.example', root), 'utf8');
const readme = readFileSync(new URL('README.md', root), 'utf8');

/** A variable the config reads but the docs do not mention is a variable nobody can find. */
describe('environment documentation', () => {
  it('.env.example lists every variable the config reads, and nothing else', () => {
    const listed = [...envExample.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    assert.deepEqual([...listed].sort(), [...knownEnvVars()].sort());
  });

  it('.env.example shows the real defaults: loading its values gives the default config', () => {
    const values = Object.fromEntries(
      [...envExample.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    assert.deepEqual(loadConfig(values), loadConfig({}));
  });

  it('the README table names every variable', () => {
    const missing = knownEnvVars().filter((name) => !readme.includes(`\`${name}\``));
    assert.deepEqual(missing, []);
  });
});

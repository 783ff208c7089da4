import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderConfigurationDoc, renderEnvExample, renderReadmeTable } from '../../scripts/env-docs.js';
import { deprecatedEnvVars, envVarDeclarations, knownEnvVars, loadConfig } from '../../shared/config.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const envExample = read('.env.example');
const readme = read('README.md');
const configurationDoc = read('docs/configuration.md');
const regenerate = 'regenerate with `npx tsx scripts/env-table.ts --write`';

/** A variable the config reads but the docs do not mention is a variable nobody can find. */
describe('environment documentation', () => {
  it('.env.example is rendered from the declarations', () => {
    assert.equal(envExample, renderEnvExample(), regenerate);
  });

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

  it('docs/configuration.md is rendered from the declarations and names every variable, deprecated ones included', () => {
    assert.equal(configurationDoc, renderConfigurationDoc(), regenerate);
    const missing = [...knownEnvVars(), ...deprecatedEnvVars().keys()].filter(
      (name) => !configurationDoc.includes(`\`${name}\``),
    );
    assert.deepEqual(missing, []);
  });

  it('the README carries the table of essential variables, and only those, and links the rest', () => {
    assert.ok(readme.includes(`${renderReadmeTable()}\n\n`), regenerate);
    const essential = envVarDeclarations().filter((v) => v.level === 'essential');
    const tuning = envVarDeclarations().filter((v) => v.level === 'tuning');
    assert.ok(essential.length > 0 && tuning.length > 0);
    const table = readme.slice(readme.indexOf('| variable |'));
    assert.deepEqual(
      essential.filter((v) => !table.includes(`| \`${v.name}\` |`)).map((v) => v.name),
      [],
    );
    assert.deepEqual(
      tuning.filter((v) => table.includes(`| \`${v.name}\` |`)).map((v) => v.name),
      [],
    );
    assert.match(readme, /\]\(docs\/configuration\.md\)/);
  });
});

describe('variable declarations', () => {
  const declarations = envVarDeclarations();

  it('give each name once, aliases included', () => {
    const names = declarations.flatMap((v) => [
      v.name,
      ...(v.alias && v.alias.deprecated === undefined ? [v.alias.name] : []),
    ]);
    assert.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
    );
    for (const name of deprecatedEnvVars().keys())
      assert.ok(!names.includes(name), `${name} is both current and deprecated`);
  });

  it('each say what the variable does and who reads it', () => {
    for (const v of declarations) {
      assert.match(v.name, /^[A-Z][A-Z0-9_]*$/);
      assert.ok(v.doc.length > 10 && v.doc.endsWith('.'), `${v.name}: a doc of one or two sentences`);
      assert.ok(v.services === 'every' || v.services.length > 0, `${v.name}: read by whom?`);
    }
  });

  it('carry the unit of a duration in its name', () => {
    const unitless = declarations.filter((v) =>
      /(TIMEOUT|DELAY|TTL|WINDOW|INTERVAL|LINGER|LIFETIME|TOLERANCE)$/.test(v.name),
    );
    assert.deepEqual(
      unitless.map((v) => v.name),
      [],
    );
  });

  it('have defaults their own parser accepts and reads back unchanged', () => {
    for (const v of declarations) {
      if (v.defaultText === undefined) continue;
      const unset = v.read(undefined, v.name);
      const spelled = v.read(v.defaultText, v.name);
      assert.ok(unset.ok && spelled.ok, `${v.name}: default ${v.defaultText} is not valid`);
      assert.deepEqual(spelled.value, unset.value, `${v.name}: default ${v.defaultText} reads back as something else`);
    }
  });
});

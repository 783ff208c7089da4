import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigurationDoc, renderEnvExample, renderReadmeTable, spliceReadmeTable } from './env-docs.js';

/**
 * The configuration docs, rendered from the declarations in shared/config.ts.
 *
 *   npx tsx scripts/env-table.ts           prints the README's table of essential variables
 *   npx tsx scripts/env-table.ts --write   rewrites that table in README.md, docs/configuration.md
 *                                          and .env.example (run it after changing a declaration)
 *
 * test/unit/env-docs.test.ts fails while any of the three differs from what this renders.
 */
const root = new URL('../', import.meta.url);
const args = process.argv.slice(2);

if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write('usage: npx tsx scripts/env-table.ts [--write]\n');
} else if (args.includes('--write')) {
  const readme = new URL('README.md', root);
  writeFileSync(readme, spliceReadmeTable(readFileSync(readme, 'utf8'), renderReadmeTable()));
  writeFileSync(new URL('docs/configuration.md', root), renderConfigurationDoc());
  writeFileSync(new URL('.env.example', root), renderEnvExample());
  process.stdout.write('wrote README.md (essential variables), docs/configuration.md, .env.example\n');
} else {
  process.stdout.write(`${renderReadmeTable()}\n`);
}

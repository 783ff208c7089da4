import { readFileSync } from 'node:fs';
import { knownEnvVars } from '../shared/config.js';

/**
 * Prints the README's environment table from `.env.example` (description comments and
 * defaults), so the two cannot drift; test/unit/env-docs.test.ts checks both cover every
 * variable the config reads.
 */
const lines = readFileSync(new URL('../.env.example', import.meta.url), 'utf8').split('\n');
const rows: string[] = ['| variable | default | meaning |', '|---|---|---|'];
let comment: string[] = [];
for (const line of lines) {
  const match = /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  if (match && knownEnvVars().includes(match[1]!)) {
    const meaning = comment.join(' ').replaceAll('|', '\\|');
    rows.push(`| \`${match[1]}\` | ${match[2] ? `\`${match[2]}\`` : '—'} | ${meaning} |`);
    comment = [];
  } else if (line.startsWith('# ') && !line.startsWith('# ---')) {
    comment.push(line.slice(2));
  } else {
    comment = [];
  }
}
process.stdout.write(`${rows.join('\n')}\n`);

import { deprecatedEnvVars, envVarDeclarations, SERVICE_NAMES } from '../shared/config.js';
import { unitOf, type EnvVar, type ServiceName } from '../shared/env-var.js';

/**
 * Renders the configuration docs from the declarations in shared/config.ts: the README's table
 * of essential variables, docs/configuration.md and .env.example. scripts/env-table.ts writes
 * them; test/unit/env-docs.test.ts fails when a file differs from what is rendered here.
 */

type Var = EnvVar<unknown>;

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const code = (name: string) => `\`${name}\``;

function defaultCell(v: Var): string {
  if (v.defaultText === undefined) return '—';
  return v.defaultText === '' ? '(empty)' : code(v.defaultText);
}

function readers(v: Var): readonly ServiceName[] {
  return v.services === 'every' ? SERVICE_NAMES : v.services;
}

function readBy(v: Var): string {
  return v.services === 'every' ? 'every service' : v.services.join(', ');
}

function production(v: Var): string {
  if (v.production !== undefined) return v.production;
  if (v.defaultText !== undefined) return 'The default.';
  return 'Unset unless you need it.';
}

function aliasNote(v: Var): string {
  return v.alias && v.alias.deprecated === undefined ? ` Also read as ${code(v.alias.name)} (set only one).` : '';
}

/** The README's table: essential variables only, in declaration order. */
export function renderReadmeTable(): string {
  const rows = envVarDeclarations()
    .filter((v) => v.level === 'essential')
    .map((v) => `| ${code(v.name)} | ${cell(readBy(v))} | ${defaultCell(v)} | ${cell(v.doc + aliasNote(v))} |`);
  return ['| variable | read by | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

interface Section {
  title: string;
  vars: Var[];
}

/** Every service first, then one section per service (a variable of two services is in both). */
function sections(): Section[] {
  const all = envVarDeclarations();
  return [
    { title: 'Every service', vars: all.filter((v) => v.services === 'every') },
    ...SERVICE_NAMES.map((s) => ({
      title: s,
      vars: all.filter((v) => v.services !== 'every' && v.services.includes(s)),
    })),
  ];
}

function docTable(vars: Var[], section: string): string[] {
  const rows = vars.map((v) => {
    const others = readers(v).filter((s) => s !== section);
    const also = v.services === 'every' || others.length === 0 ? '' : ` Also read by ${others.join(', ')}.`;
    return `| ${code(v.name)} | ${defaultCell(v)} | ${unitOf(v.name) || '—'} | ${cell(v.accepts)} | ${cell(v.doc + aliasNote(v) + also)} | ${cell(production(v))} |`;
  });
  return ['| variable | default | unit | accepts | meaning | in production |', '|---|---|---|---|---|---|', ...rows];
}

/** docs/configuration.md, whole. */
export function renderConfigurationDoc(): string {
  const out: string[] = [
    '# Configuration',
    '',
    '<!-- Generated from the declarations in shared/config.ts by `npx tsx scripts/env-table.ts --write`;',
    '     test/unit/env-docs.test.ts fails when this file differs. Edit the declarations, not this file. -->',
    '',
    'Every setting is an environment variable, declared once in `shared/config.ts` and validated when',
    'a service starts: a malformed value, or a combination production refuses, stops the service with',
    'a message that names the variable (never its value). An empty variable counts as unset. Units are',
    'in the names (`_MS`, `_SECONDS`, `_BYTES`, `_PER_MINUTE`).',
    '',
    '- **Essential** variables are what a deployment decides: where the brokers and stores are, who',
    '  may call, how tokens are verified, which service runs. The README lists them, and',
    '  [deploy.md](deploy.md) says what to set on Railway.',
    '- **Tuning** variables are limits, windows and batch sizes whose defaults are sized and measured',
    '  ([performance.md](performance.md)); change one for a reason you can measure.',
    '',
    'Variables every service reads come first, then those of each service; one that two services read',
    'is listed under both. A few are part of queue names, and every service declares the whole',
    'topology: their "in production" column asks for the same value everywhere. `.env.example` shows',
    'every default.',
    '',
  ];
  for (const section of sections()) {
    if (section.vars.length === 0) continue;
    out.push(`## ${section.title}`, '');
    for (const level of ['essential', 'tuning'] as const) {
      const vars = section.vars.filter((v) => v.level === level);
      if (vars.length === 0) continue;
      out.push(`### ${section.title}: ${level}`, '', ...docTable(vars, section.title), '');
    }
  }
  const deprecated = [...deprecatedEnvVars()];
  if (deprecated.length > 0) {
    out.push(
      '## Deprecated names',
      '',
      'Still read, with a warning in the start-up log; setting one together with its new name to a',
      'different value is refused. Rename them.',
      '',
      '| deprecated | read as | why |',
      '|---|---|---|',
      ...deprecated.map(
        ([alias, { why, readAs }]) => `| ${code(alias)} | ${readAs.map(code).join(', ')} | ${cell(why)} |`,
      ),
      '',
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** .env.example, whole: every variable once, with its default (commented out when it has none). */
export function renderEnvExample(): string {
  const out: string[] = [
    '# Every variable the services read, generated from shared/config.ts by',
    '# `npx tsx scripts/env-table.ts --write` (docs/configuration.md says more about each). Values',
    '# shown are the defaults; commented ones have none. A bad value stops the service with its name.',
    '# Copy to .env only for your own tooling: the services read the process environment.',
  ];
  const listed = new Set<string>();
  for (const section of sections()) {
    const vars = section.vars.filter((v) => !listed.has(v.name));
    if (vars.length === 0) continue;
    out.push('', `# --- ${section.title} ${'-'.repeat(Math.max(3, 88 - section.title.length))}`);
    for (const level of ['essential', 'tuning'] as const) {
      const ofLevel = vars.filter((v) => v.level === level);
      if (ofLevel.length === 0) continue;
      if (level === 'tuning') out.push('# (tuning: the defaults are sized; change one for a measured reason)');
      for (const v of ofLevel) {
        listed.add(v.name);
        out.push(`# ${v.doc}`);
        out.push(v.defaultText === undefined ? `# ${v.name}=` : `${v.name}=${v.defaultText}`);
        if (v.alias && v.alias.deprecated === undefined)
          out.push(`# Read as ${v.name} when that is unset (set only one)`, `# ${v.alias.name}=`);
      }
    }
  }
  return `${out.join('\n')}\n`;
}

/** The README region the table occupies: from its header line to the next blank line. */
export function spliceReadmeTable(readme: string, table: string): string {
  const start = readme.indexOf('| variable |');
  if (start < 0) throw new Error('README.md: no table starting with "| variable |"');
  const end = readme.indexOf('\n\n', start);
  return `${readme.slice(0, start)}${table}${end < 0 ? '\n' : readme.slice(end)}`;
}

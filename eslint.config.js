// @ts-check
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const SERVICES = ['producer', 'consumer', 'ws-server', 'jobs', 'seed'];

/**
 * Each service is deployed alone, so it may import only shared/ (and its own folder). One zone
 * per service forbids every other service folder; shared/ may import no service at all.
 */
const serviceBoundaries = [
  ...SERVICES.map((service) => ({
    target: `./${service}`,
    from: SERVICES.filter((other) => other !== service).map((other) => `./${other}`),
    message: `${service}/ may import only shared/ and its own folder: services are deployed separately.`,
  })),
  {
    target: './shared',
    from: [...SERVICES, 'client'].map((s) => `./${s}`),
    message: 'shared/ must not depend on any service or on the client.',
  },
  // The client runs in browsers: of the server side it may import only the dependency-free
  // protocol definitions (shared/protocol/), never a service or the rest of shared/.
  {
    target: './client',
    from: [...SERVICES.map((s) => `./${s}`), './shared'],
    except: ['./protocol'],
    message: 'client/ may import only shared/protocol/ (it runs in browsers).',
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'bench-results/**', '.artifacts/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      // no-cycle parses every imported module itself; without this it cannot read .ts files
      // and silently finds no cycles.
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: serviceBoundaries }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-unresolved': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through shared/config.ts (loadConfig), not process.env.',
        },
      ],
    },
  },
  {
    // Node-only modules would break the browser bundle (/client.js); client/websocket.ts
    // imports `ws` through a variable specifier, so only Node ever loads it.
    files: ['client/**/*.ts', 'shared/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(node:|ws$|ioredis|pino|mongoose|amqp|express|joi|jose|prom-client|uuid)',
              message: 'client/ runs in browsers: no Node-only or server dependency.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/config.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { SERVICE_NAMES, loadConfig, servicePort, type ServiceName } from '../../shared/config.js';

/**
 * No Docker engine and no Railway here, so the deployment files are checked by parsing them:
 * each claim docs/deploy.md makes of them is asserted against the files themselves and against
 * the code they start (the config schema, the build, the import graph).
 */
const read = (path: string) => readFileSync(path, 'utf8');
const defaults = loadConfig({});

/** The process must outlive its own drain: SIGKILL only after SHUTDOWN_TIMEOUT_MS has passed. */
const outlivesDrain = (seconds: number) => seconds * 1000 > defaults.shutdownTimeoutMs;

/** Relative imports (static and literal dynamic) of a TypeScript file, as repository paths. */
function relativeImports(file: string): string[] {
  const source = read(file);
  const specifiers = [...source.matchAll(/(?:from\s+|import\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specifiers.map((spec) => new URL(spec.replace(/\.js$/, '.ts'), `file:///${file}`).pathname.slice(1));
}

/** Every source file reachable from the given roots. */
function importGraph(roots: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (file.endsWith('.ts')) queue.push(...relativeImports(file));
  }
  return seen;
}

/** Railway watch patterns, limited here to the two forms used: `/dir/**` and `/file`. */
function watched(patterns: string[], file: string): boolean {
  return patterns.some((p) => (p.endsWith('/**') ? file.startsWith(p.slice(1, -2)) : p.slice(1) === file));
}

describe('Railway: one config file per service (railway/<service>.json)', () => {
  type RailwayConfig = {
    build: { builder: string; dockerfilePath?: string; buildCommand?: string; watchPatterns: string[] } & Record<
      string,
      unknown
    >;
    deploy: {
      startCommand?: string;
      healthcheckPath: string;
      healthcheckTimeout: number;
      drainingSeconds: number;
      restartPolicyType: string;
      restartPolicyMaxRetries: number;
    };
  };
  const configs = Object.fromEntries(
    SERVICE_NAMES.map((name) => [name, JSON.parse(read(`railway/${name}.json`)) as RailwayConfig]),
  ) as Record<ServiceName, RailwayConfig>;

  /** What each service runs and serves besides its own folder's imports. */
  const extraRoots: Record<ServiceName, string[]> = {
    producer: ['producer/main.ts', 'docs/openapi.yaml', 'seed/main.ts'],
    consumer: ['consumer/main.ts'],
    'ws-server': [
      'ws-server/main.ts',
      'ws-server/public/index.html',
      'client/browser-entry.ts',
      'scripts/build-client.ts',
    ],
    jobs: ['jobs/main.ts'],
  };

  it('has exactly one file per service and no root railway.json that would apply to all of them', () => {
    assert.deepEqual(readdirSync('railway').sort(), SERVICE_NAMES.map((n) => `${n}.json`).sort());
    assert.ok(!existsSync('railway.json') && !existsSync('railway.toml'));
  });

  it('builds with the Dockerfile only (no Nixpacks/Railpack settings, no second npm ci)', () => {
    for (const [name, config] of Object.entries(configs)) {
      assert.equal(config.build.builder, 'DOCKERFILE', name);
      assert.ok(existsSync(config.build.dockerfilePath ?? 'Dockerfile'), `${name}: the Dockerfile exists`);
      assert.equal(config.build.buildCommand, undefined, `${name}: the Dockerfile builds`);
      assert.deepEqual(
        Object.keys(config.build).filter((k) => /nixpacks|railpack/i.test(k)),
        [],
        name,
      );
    }
  });

  it("starts node itself: the Dockerfile's CMD, or exactly the same command", () => {
    for (const [name, config] of Object.entries(configs)) {
      assert.ok(
        [undefined, 'node dist/start.js'].includes(config.deploy.startCommand),
        `${name}: ${config.deploy.startCommand}`,
      );
    }
  });

  it('checks /readyz during a deploy, waits long enough for a restart after a connect timeout', () => {
    for (const [name, config] of Object.entries(configs)) {
      assert.equal(config.deploy.healthcheckPath, '/readyz', name);
      assert.ok(config.deploy.healthcheckTimeout * 1000 > 2 * defaults.connectTimeoutMs, name);
    }
  });

  it('lets the drain finish: drainingSeconds is above SHUTDOWN_TIMEOUT_MS', () => {
    for (const [name, config] of Object.entries(configs)) {
      assert.ok(outlivesDrain(config.deploy.drainingSeconds), `${name}: ${config.deploy.drainingSeconds} s`);
    }
  });

  it('restarts a service that fails (within the 10 restarts every plan allows)', () => {
    for (const [name, config] of Object.entries(configs)) {
      assert.equal(config.deploy.restartPolicyType, 'ON_FAILURE', name);
      assert.ok(config.deploy.restartPolicyMaxRetries >= 1 && config.deploy.restartPolicyMaxRetries <= 10, name);
    }
  });

  it("redeploys a service when anything it runs changes, and not for another service's folder", () => {
    const build = [
      'Dockerfile',
      '.dockerignore',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ];
    for (const name of SERVICE_NAMES) {
      const patterns = configs[name].build.watchPatterns;
      for (const p of patterns) assert.match(p, /^\/[^*]+(\/\*\*)?$/, `${name}: ${p} is /dir/** or /file`);
      const runs = importGraph(['start.ts', 'healthcheck.ts', ...extraRoots[name]]);
      const missing = [...runs, ...build, `railway/${name}.json`].filter((file) => !watched(patterns, file));
      assert.deepEqual(missing, [], `${name}: changes to these would not redeploy it`);
      for (const other of SERVICE_NAMES.filter((o) => o !== name)) {
        assert.ok(!watched(patterns, `${other}/main.ts`), `${name} does not redeploy for ${other}/`);
      }
    }
  });
});

describe('Dockerfile', () => {
  /** Instructions with their arguments, continuation lines joined, comments dropped. */
  const instructions = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.trim().split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
  const lastFrom = instructions.findLastIndex((i) => i.keyword === 'FROM');
  const runtime = instructions.slice(lastFrom);

  it('builds and runs on Node 22 LTS; package.json still allows Node 20.19+', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const from of froms) assert.match(from.args, /^node:22[-.\s]/);
    assert.equal((JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node, '>=20.19');
  });

  it('runs production dependencies only, as NODE_ENV=production, not as root', () => {
    assert.ok(runtime.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)));
    assert.ok(runtime.some((i) => i.keyword === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)));
    const user = runtime.findLast((i) => i.keyword === 'USER');
    assert.ok(user && !['root', '0'].includes(user.args), 'a non-root USER');
  });

  it('starts `node dist/start.js` in exec form, so SIGTERM reaches node (no shell, no npm)', () => {
    assert.ok(!instructions.some((i) => i.keyword === 'ENTRYPOINT'));
    const cmd = runtime.findLast((i) => i.keyword === 'CMD');
    assert.deepEqual(JSON.parse(cmd!.args), ['node', 'dist/start.js']);
  });

  it('ships what the services read at run time and the health check it declares', () => {
    const copies = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    for (const path of ['dist', 'docs/openapi.yaml', 'ws-server/public']) {
      assert.ok(
        copies.some((c) => c.includes(`/app/${path} `)),
        `copies ${path}`,
      );
    }
    const check = runtime.find((i) => i.keyword === 'HEALTHCHECK');
    assert.match(check!.args, /CMD \["node", "dist\/healthcheck\.js"\]$/);
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    for (const entry of ['start.ts', 'healthcheck.ts', 'seed'])
      assert.ok(build.include.includes(entry), `the build compiles ${entry}`);
  });
});

describe('docker-compose.yml', () => {
  type Service = {
    image?: string;
    build?: unknown;
    command?: string[];
    restart?: string;
    init?: boolean;
    stop_grace_period?: string;
    environment?: Record<string, string>;
    healthcheck?: { test?: string[]; disable?: boolean };
    depends_on?: Record<string, { condition: string }>;
    ports?: string[];
  };
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
  const services = compose.services;
  const stores = ['rabbitmq', 'redis', 'mongo'];
  const app = [...SERVICE_NAMES, 'seed'];

  it('runs the three stores and the four services, each with its SERVICE', () => {
    for (const store of stores) assert.ok(services[store]?.image, `${store} has an image`);
    for (const name of SERVICE_NAMES) assert.equal(services[name]?.environment?.SERVICE, name);
  });

  it('builds one image once: one build section, every app service runs that image', () => {
    const building = Object.entries(services)
      .filter(([, s]) => s.build !== undefined)
      .map(([name]) => name);
    assert.deepEqual(building, ['producer']);
    const image = services.producer!.image;
    assert.ok(image);
    for (const name of app) assert.equal(services[name]!.image, image, name);
  });

  it('restarts what fails: every service has a restart policy', () => {
    for (const [name, service] of Object.entries(services)) {
      assert.match(service.restart ?? '', /^(unless-stopped|always|on-failure(:\d+)?)$/, name);
    }
    assert.match(services.seed!.restart!, /^on-failure/, 'the seed runs once: restarted only when it fails');
  });

  it('starts in order of health: stores with healthchecks, services after the stores are healthy', () => {
    for (const store of stores) assert.ok(services[store]!.healthcheck?.test?.length, `${store} has a healthcheck`);
    for (const name of app) {
      for (const store of stores)
        assert.equal(services[name]!.depends_on?.[store]?.condition, 'service_healthy', `${name} waits for ${store}`);
    }
    for (const name of SERVICE_NAMES)
      assert.deepEqual(services[name]!.healthcheck?.test, ['CMD', 'node', 'dist/healthcheck.js'], name);
  });

  it('seeds the demo data once, after the producer is healthy, with what `npm run seed` runs', () => {
    const seed = services.seed!;
    const script = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.seed!;
    const source = /\b(seed\/main)\.ts$/.exec(script)?.[1];
    assert.deepEqual(seed.command, ['node', `dist/${source}.js`]);
    assert.equal(seed.depends_on?.producer?.condition, 'service_healthy');
    assert.equal(seed.environment?.SERVICE, undefined);
  });

  it('gives every app service longer than the drain before SIGKILL, with an init passing signals', () => {
    for (const name of SERVICE_NAMES) {
      const grace = /^(\d+)s$/.exec(services[name]!.stop_grace_period ?? '');
      assert.ok(grace && outlivesDrain(Number(grace[1])), `${name}: ${services[name]!.stop_grace_period}`);
      assert.equal(services[name]!.init, true, name);
    }
  });

  it('logs JSON, as in production (pino-pretty is not in the image)', () => {
    for (const name of app) {
      const pretty = services[name]!.environment?.LOG_PRETTY;
      assert.ok(pretty === undefined || !loadConfig({ LOG_PRETTY: pretty }).log.pretty, name);
    }
  });

  it('publishes each service on the port it listens on, which the health check probes', () => {
    for (const name of SERVICE_NAMES) {
      const port = servicePort(loadConfig(services[name]!.environment), name);
      assert.deepEqual(services[name]!.ports, [`${port}:${port}`], name);
    }
  });

  it("each service's environment is a valid configuration, and production's too once the demo mode is off", () => {
    for (const name of SERVICE_NAMES) {
      const env = services[name]!.environment!;
      assert.equal(loadConfig(env, name).service, name);
      // What the compose file's comment promises: only these two change for a production-like stack.
      const production = loadConfig({ ...env, NODE_ENV: 'production', WS_AUTH_MODE: 'token' }, name);
      assert.equal(production.nodeEnv, 'production');
    }
    assert.throws(
      () => loadConfig({ ...services.producer!.environment, NODE_ENV: 'production' }, 'producer'),
      /WS_AUTH_MODE/,
    );
  });
});

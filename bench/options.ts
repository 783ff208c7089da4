import { parseArgs } from 'node:util';
import { envVarDeclarations } from '../shared/config.js';

/**
 * Every knob of `npm run bench`, with the defaults a first run on a laptop should use.
 * `npm run bench -- --scenario steady --rate 500 --duration 30 --users 200`.
 */
export const SCENARIOS = ['steady', 'max', 'connections', 'reconnect-storm', 'fanout', 'auth-burst'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenario: Scenario;
  /** Events per second offered (steady, reconnect-storm intake); the first step of `max`. */
  rate: number;
  /** Seconds of load (steady), per step (max), of holding the sockets (connections). */
  duration: number;
  /** Recipients, one WebSocket each (connections: the number of sockets). */
  users: number;
  /** reconnect-storm: pending notifications per client. */
  pending: number;
  /** fanout: followers of the posting author, and how many of them are connected. */
  followers: number;
  connected: number;
  /** max: rate added per step, the ceiling, and the p99 bound a step must stay under. */
  step: number;
  maxRate: number;
  p99BoundMs: number;
  /** Seconds of unmeasured load first (steady, max), at the first rate; 0 disables. */
  warmup: number;
  /** Bound on waiting for the last notifications after the load stops. */
  drainSeconds: number;
  /** Concurrent HTTP sockets of the load generator. */
  httpSockets: number;
  /**
   * Events per intake request (steady, max): 1 posts each to `POST /events`; N > 1 holds events
   * until N are due and posts them in one `POST /events/batch`, as a backend with a steady stream
   * would. At most the producer's BATCH_MAX_EVENTS (with `--env BATCH_MAX_EVENTS=N`, that N).
   */
  batch: number;
  /** Bound on waiting (after PERSIST_DELAY_MS) for MongoDB to hold every notification. */
  persistWaitSeconds: number;
  /** PERSIST_DELAY_MS given to the services (the pipeline's default is 5000). */
  persistDelayMs: number;
  /** Run `npm run build` first (off when dist/ is known fresh, e.g. in CI after the build). */
  build: boolean;
  /** Measure the raw broker baseline after the run. */
  baseline: boolean;
  /** Print the progress line every second. */
  progress: boolean;
  /** Directory of the JSON result and the SVG chart. */
  outDir: string;
  /** Drop the run's queues, Redis keys and database at the end. */
  cleanup: boolean;
  /** Extra variables for the services (`--env CONSUMER_PREFETCH=256`), for tuning experiments. */
  serviceEnv: Record<string, string>;
  /**
   * Stored notifications of other users loaded into the run's database before the scenario
   * (test/helpers/aged-db.ts), so it runs against an aged store rather than an empty one; 0 = none.
   */
  agedNotifications: number;
  /**
   * The producer's intake API key (its INTAKE_API_KEYS), sent with every event; undefined: a
   * random key per run, as the JWT secret is.
   */
  intakeKey: string | undefined;
  /**
   * The port of the PostgreSQL behind FerretDB (scripts/services.sh's POSTGRES_PORT), whose process
   * tree is sampled with the other servers; 5432 is left to a system PostgreSQL.
   */
  postgresPort: number;
  /**
   * NODE_OPTIONS for the ws-server alone, after the bench's own probes, e.g. to preload a profiler
   * (`--cpu-prof` itself is not allowed in NODE_OPTIONS). `--env NODE_OPTIONS=...` is every service's.
   */
  wsNodeOptions: string;
  /**
   * ws-server and consumer processes the run starts (producer and jobs: one each); the clients
   * are spread over the ws-servers round-robin by user. steady and max only.
   */
  instances: number;
  /**
   * `--scale 1,2`: run the scenario once per count of ws-server and consumer processes, one after
   * the other on fresh stacks, and print the runs side by side (bench/scale.ts); empty: off.
   */
  scale: number[];
}

export const DEFAULTS: BenchOptions = {
  scenario: 'steady',
  rate: 200,
  duration: 20,
  users: 100,
  pending: 10,
  followers: 10_000,
  connected: 2000,
  step: 250,
  maxRate: 5000,
  p99BoundMs: 100,
  warmup: 5,
  drainSeconds: 30,
  httpSockets: 64,
  batch: 1,
  persistWaitSeconds: 60,
  persistDelayMs: 5000,
  build: true,
  baseline: true,
  progress: true,
  outDir: 'bench-results',
  cleanup: true,
  serviceEnv: {},
  agedNotifications: 0,
  intakeKey: undefined,
  postgresPort: 5433,
  wsNodeOptions: '',
  instances: 1,
  scale: [],
};

/** Scenarios whose load and clients spread over several ws-server and consumer processes. */
export const SCALABLE_SCENARIOS: readonly Scenario[] = ['steady', 'max'];

/** Bound on `--instances` and on each count of `--scale`: the machine runs every process. */
export const MAX_INSTANCES = 8;

export class OptionsError extends Error {
  override name = 'OptionsError';
}

/** `--help`: the message is the usage, printed to stdout, and the bench exits 0. */
export class HelpRequested extends OptionsError {
  override name = 'HelpRequested';
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new OptionsError(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

/** The producer's BATCH_MAX_EVENTS for this run: `--env BATCH_MAX_EVENTS=N`, else the config's default. */
function batchMaxEvents(serviceEnv: Record<string, string>): number {
  const declaration = envVarDeclarations().find((v) => v.name === 'BATCH_MAX_EVENTS');
  const read = declaration?.read(serviceEnv.BATCH_MAX_EVENTS, '--env BATCH_MAX_EVENTS');
  if (!read?.ok) throw new OptionsError(read?.problem ?? 'BATCH_MAX_EVENTS is not a declared variable');
  return read.value as number;
}

function count(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new OptionsError(`--${name} must be a whole number of at least 0, got "${raw}"`);
  return value;
}

function instanceCount(name: string, raw: string): number {
  const value = Number(raw);
  if (raw === '' || !Number.isInteger(value) || value < 1 || value > MAX_INSTANCES) {
    throw new OptionsError(`--${name} takes whole numbers from 1 to ${MAX_INSTANCES}, got "${raw}"`);
  }
  return value;
}

export const USAGE = `usage: npm run bench -- [options]
  --scenario steady|max|connections|reconnect-storm|fanout|auth-burst   (default ${DEFAULTS.scenario})
  --rate N            events/s offered; first step of max          (default ${DEFAULTS.rate})
  --duration S        seconds of load / per max step / holding     (default ${DEFAULTS.duration})
  --users N           clients (connections: sockets)               (default ${DEFAULTS.users})
  --pending K         reconnect-storm: pending per client          (default ${DEFAULTS.pending})
  --followers N       fanout: followers of the author who posts    (default ${DEFAULTS.followers})
  --connected M       fanout: followers connected (token AUTH)     (default ${DEFAULTS.connected})
  --step N            max: rate increase per step                  (default ${DEFAULTS.step})
  --max-rate N        max: highest rate tried                      (default ${DEFAULTS.maxRate})
  --p99-bound MS      max: p99 a step must stay under              (default ${DEFAULTS.p99BoundMs})
  --warmup S          unmeasured load first (steady, max); 0 = none  (default ${DEFAULTS.warmup})
  --drain S           bound on waiting for stragglers              (default ${DEFAULTS.drainSeconds})
  --http-sockets N    load generator keep-alive sockets            (default ${DEFAULTS.httpSockets})
  --batch N           events per intake request (steady, max): 1 = POST /events each, N > 1 = POST /events/batch  (default ${DEFAULTS.batch})
  --persist-wait S    bound on waiting for MongoDB after the delay   (default ${DEFAULTS.persistWaitSeconds})
  --persist-delay-ms  PERSIST_DELAY_MS for the services            (default ${DEFAULTS.persistDelayMs})
  --aged-notifications N  other users' stored notifications loaded first  (default ${DEFAULTS.agedNotifications})
  --env NAME=VALUE    extra service variable, repeatable (e.g. --env CONSUMER_PREFETCH=256)
  --intake-key KEY    the producer's intake API key, sent as Authorization: ApiKey   (default: random per run)
  --postgres-port N   PostgreSQL behind FerretDB, sampled with the servers (default ${DEFAULTS.postgresPort}, scripts/services.sh's POSTGRES_PORT)
  --ws-node-options="OPTS"  extra NODE_OPTIONS for the ws-server only, e.g. --ws-node-options="--import ./profiler.mjs"
                      (with "=": a value starting with "--" is otherwise taken for a flag)
  --instances N       ws-server and consumer processes (steady, max)  (default ${DEFAULTS.instances}, at most ${MAX_INSTANCES})
  --scale 1,2         steady or max once per count of ws-server and consumer processes, side by side
  --no-build --no-baseline --no-progress --keep-data --out DIR
  --help              this text`;

function parseFlags(argv: string[]) {
  try {
    return parseFlagsStrict(argv);
  } catch (err) {
    throw new OptionsError(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
}

function parseFlagsStrict(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      users: { type: 'string' },
      pending: { type: 'string' },
      followers: { type: 'string' },
      connected: { type: 'string' },
      step: { type: 'string' },
      'max-rate': { type: 'string' },
      'p99-bound': { type: 'string' },
      drain: { type: 'string' },
      warmup: { type: 'string' },
      'http-sockets': { type: 'string' },
      batch: { type: 'string' },
      'persist-delay-ms': { type: 'string' },
      'persist-wait': { type: 'string' },
      'aged-notifications': { type: 'string' },
      'no-build': { type: 'boolean' },
      'no-baseline': { type: 'boolean' },
      'no-progress': { type: 'boolean' },
      'keep-data': { type: 'boolean' },
      out: { type: 'string' },
      env: { type: 'string', multiple: true },
      'intake-key': { type: 'string' },
      'postgres-port': { type: 'string' },
      'ws-node-options': { type: 'string' },
      instances: { type: 'string' },
      scale: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseFlags(argv);
  if (values.help) throw new HelpRequested(USAGE);
  const scenario = values.scenario ?? DEFAULTS.scenario;
  if (!(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new OptionsError(`--scenario must be one of ${SCENARIOS.join(', ')}, got "${scenario}"`);
  }
  const serviceEnv: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!match?.[1]) throw new OptionsError(`--env must be NAME=VALUE with an upper-case NAME, got "${pair}"`);
    serviceEnv[match[1]] = match[2] ?? '';
  }
  const users = Math.floor(positive('users', values.users, DEFAULTS.users));
  if (users < 2) throw new OptionsError('--users must be at least 2 (an actor never notifies itself)');
  const followers = Math.floor(positive('followers', values.followers, DEFAULTS.followers));
  const connected = Math.floor(positive('connected', values.connected, DEFAULTS.connected));
  if (connected > followers)
    throw new OptionsError(`--connected (${connected}) cannot exceed --followers (${followers})`);
  const intakeKey = values['intake-key'];
  // The message never repeats the key: it is a credential.
  if (intakeKey !== undefined && !/^[\x21-\x2b\x2d-\x7e]+$/.test(intakeKey))
    throw new OptionsError('--intake-key must be printable ASCII without spaces or commas');
  const postgresPort = count('postgres-port', values['postgres-port'], DEFAULTS.postgresPort);
  if (postgresPort < 1 || postgresPort > 65_535)
    throw new OptionsError(`--postgres-port must be a port (1-65535), got "${values['postgres-port']}"`);
  const instances = instanceCount('instances', values.instances ?? String(DEFAULTS.instances));
  const scale =
    values.scale === undefined
      ? DEFAULTS.scale
      : values.scale.split(',').map((raw) => instanceCount('scale', raw.trim()));
  if (new Set(scale).size !== scale.length)
    throw new OptionsError(`--scale lists each count once, got "${values.scale}"`);
  if (values.scale !== undefined && values.instances !== undefined)
    throw new OptionsError('--scale sets the instances of each run: give --instances or --scale, not both');
  if ((instances > 1 || scale.length > 0) && !SCALABLE_SCENARIOS.includes(scenario as Scenario)) {
    throw new OptionsError(`--instances above 1 and --scale run ${SCALABLE_SCENARIOS.join(' or ')}, not ${scenario}`);
  }
  const batch = count('batch', values.batch, DEFAULTS.batch);
  // The producer refuses a larger request whole: its limit as the run's services will read it.
  const batchMax = batchMaxEvents(serviceEnv);
  if (batch < 1 || batch > batchMax)
    throw new OptionsError(`--batch must be 1 to ${batchMax} events (BATCH_MAX_EVENTS), got "${values.batch}"`);
  if (batch > 1 && !SCALABLE_SCENARIOS.includes(scenario as Scenario))
    throw new OptionsError(`--batch above 1 runs ${SCALABLE_SCENARIOS.join(' or ')}, not ${scenario}`);
  return {
    scenario: scenario as Scenario,
    rate: positive('rate', values.rate, DEFAULTS.rate),
    duration: positive('duration', values.duration, DEFAULTS.duration),
    users,
    pending: Math.floor(positive('pending', values.pending, DEFAULTS.pending)),
    followers,
    connected,
    step: positive('step', values.step, DEFAULTS.step),
    maxRate: positive('max-rate', values['max-rate'], DEFAULTS.maxRate),
    p99BoundMs: positive('p99-bound', values['p99-bound'], DEFAULTS.p99BoundMs),
    warmup: values.warmup === '0' ? 0 : positive('warmup', values.warmup, DEFAULTS.warmup),
    drainSeconds: positive('drain', values.drain, DEFAULTS.drainSeconds),
    httpSockets: Math.floor(positive('http-sockets', values['http-sockets'], DEFAULTS.httpSockets)),
    batch,
    persistWaitSeconds: positive('persist-wait', values['persist-wait'], DEFAULTS.persistWaitSeconds),
    persistDelayMs: Math.floor(positive('persist-delay-ms', values['persist-delay-ms'], DEFAULTS.persistDelayMs)),
    build: !values['no-build'],
    baseline: !values['no-baseline'],
    progress: !values['no-progress'],
    outDir: values.out ?? DEFAULTS.outDir,
    cleanup: !values['keep-data'],
    serviceEnv,
    agedNotifications: count('aged-notifications', values['aged-notifications'], DEFAULTS.agedNotifications),
    intakeKey,
    postgresPort,
    wsNodeOptions: values['ws-node-options'] ?? DEFAULTS.wsNodeOptions,
    instances,
    scale,
  };
}

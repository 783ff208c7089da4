import Joi from 'joi';
import { ackFrameBytes, MAX_NOTIFICATION_ID_LENGTH } from './ack-frame.js';
import { readKeySource, type TokenRules } from './auth/key-source.js';

/**
 * The one place that reads the environment. Every variable is validated here, typed once, and
 * carries its unit in its name; services receive a `Config` and never look at `process.env`.
 */

export const SERVICE_NAMES = ['producer', 'consumer', 'ws-server', 'jobs'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export type AuthMode = 'token' | 'dev';
export type NodeEnv = 'development' | 'test' | 'production';

export interface Config {
  nodeEnv: NodeEnv;
  /** Set for `npm start` (Railway): which service the build runs. */
  service: ServiceName | undefined;
  log: { level: string; pretty: boolean };
  http: {
    host: string;
    /** `PORT` (Railway) overrides the port of whichever service runs. */
    portOverride: number | undefined;
    ports: Record<ServiceName, number>;
    maxBodyBytes: number;
    /** POST /events/batch carries up to BATCH_MAX_EVENTS events, so it has its own limit. */
    batchMaxBodyBytes: number;
    /** Retry-After sent with a 503 when the broker is unreachable or slow to confirm. */
    retryAfterSeconds: number;
    /** Browser origins the producer answers with CORS (the ws-server's demo page). */
    cors: { origins: string[]; allowLocalhost: boolean };
    /** Longest a client may take to send a request's headers (an idle new connection included). */
    headersTimeoutMs: number;
    /** Longest a client may take to send a whole request, body included. */
    requestTimeoutMs: number;
    /** Open connections one producer, consumer or jobs process accepts at once (ws-server: ws.maxConnections). */
    maxConnections: number;
    /** Per-client-IP request budgets of the producer, shared by every instance through Redis. */
    rateLimit: { perMinute: number };
    /** Proxies in front of the producer whose X-Forwarded-For is believed (Express 'trust proxy'). */
    trustProxyHops: number;
  };
  /** What the ws-server's demo inbox page is told (ws-server/demo-page.ts). */
  demo: {
    /**
     * The producer's public base URL the page calls; undefined: the page's own host with the
     * producer's port (right for `npm run dev` and Docker Compose, wrong behind Railway's domains).
     */
    producerUrl: string | undefined;
  };
  rabbitmq: {
    url: string;
    /** Prepended to every exchange and queue name: isolates tests and tenants on one vhost. */
    namePrefix: string;
    heartbeatSeconds: number;
    publishConfirmTimeoutMs: number;
  };
  redis: {
    /** A single server (or a primary with replicas behind one address); unused when `cluster` is set. */
    url: string;
    keyPrefix: string;
    /** REDIS_CLUSTER_NODES: a Redis Cluster's seed nodes; set, the services open an ioredis Cluster (shared/redis.ts). */
    cluster: RedisClusterSettings | undefined;
  };
  mongo: {
    url: string;
    /**
     * The longest the live path (AUTH, the consumer's decisions) waits for a MongoDB read behind a
     * Redis miss before going on without it; the read goes on in the background and fills Redis.
     */
    fallbackWaitMs: number;
    /** Deadline of one MongoDB operation (client-side, and sent to the server as maxTimeMS). */
    queryTimeoutMs: number;
    /**
     * Deadline of one multi-document write (jobs' batch writes, read-all): FerretDB takes
     * seconds for a few hundred documents where a page read takes milliseconds.
     */
    batchTimeoutMs: number;
    /** MongoDB connections (so operations in flight) one process holds at most. */
    maxPoolSize: number;
  };
  connectTimeoutMs: number;
  shutdownTimeoutMs: number;
  auth: {
    mode: AuthMode;
    /**
     * The HS256 secret: verifies tokens when `token.key.kind` is 'secret', and is what seed and
     * tests sign with (with a public key or JWKS configured it verifies nothing).
     */
    jwtSecret: string;
    /** Tokens are verified with the built-in development secret (refused in production). */
    jwtSecretIsDefault: boolean;
    /** What a token must be to be accepted (shared/auth/key-source.ts, shared/auth/jwt.ts). */
    token: TokenRules;
  };
  /**
   * Keys the callers of event intake present as `Authorization: ApiKey <key>` (producer/intake-key.ts).
   * More than one while a key is rotated; empty means intake is open, which production refuses.
   */
  intake: { apiKeys: string[] };
  pipeline: {
    consumerPrefetch: number;
    /** Events the consumer commits in one pipeline at most. */
    consumerBatchMax: number;
    eventDedupeWindowSeconds: number;
    actionDedupeWindowMs: number;
    rateLimitActorPerMinute: number;
    rateLimitRecipientPerMinute: number;
    bufferTtlSeconds: number;
    retryMaxAttempts: number;
    retryBaseDelayMs: number;
    aggregationWindowMs: number;
    batchMaxEvents: number;
    /** How long the consumer trusts a cached user display name. */
    userNameCacheTtlMs: number;
    /** How long Redis keeps a user's copy of their preferences (an update replaces it at once). */
    preferencesCacheTtlSeconds: number;
  };
  /** Follower fan-out (docs/pipeline.md "Fan-out"): chunk size and how much runs at once. */
  fanout: {
    /** Followers per chunk message. */
    chunkSize: number;
    /** Chunks one consumer works on at once; small so direct events keep the consumer's attention. */
    prefetch: number;
  };
  persist: {
    /** Longest a committed notification waits in the consumer for others to share its persist message. */
    handOffLingerMs: number;
    /** Notifications per persist message at most. */
    handOffMaxNotifications: number;
    delayMs: number;
    batchSize: number;
    flushMs: number;
    prefetch: number;
    maxStoredPerUser: number;
    /** Operations per bulkWrite command; larger batches are split (FerretDB stalls at 100+). */
    bulkMaxOps: number;
  };
  ws: {
    authTimeoutMs: number;
    ackTimeoutMs: number;
    maxRedeliveries: number;
    heartbeatIntervalMs: number;
    replayLimit: number;
    maxFrameBytes: number;
    maxFramesPerSecond: number;
    maxSocketsPerUser: number;
    maxBufferedBytes: number;
    maxAckBatch: number;
    /** Connections the kernel may hold unaccepted (capped by net.core.somaxconn). */
    listenBacklogConnections: number;
    /** Open connections (sockets and HTTP) one ws-server process accepts at once. */
    maxConnections: number;
  };
}

/** A Redis Cluster to connect to: any of its nodes (the client discovers the others). */
export interface RedisClusterSettings {
  nodes: Array<{ host: string; port: number }>;
  /** From the entries' URLs (`redis://user:password@host:port`); the same for every node. */
  username: string | undefined;
  password: string | undefined;
  /** `rediss://` entries: TLS to every node. */
  tls: boolean;
}

/** Used only outside production so `npm run dev` works without setup; production refuses it. */
export const DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me-0123456789';

/** The intake key `npm run dev` and the Postman environment use; production refuses it. */
export const DEV_INTAKE_API_KEY = 'dev-only-intake-api-key-change-me-0123456789';
/** 32 base64 characters carry 192 bits (`openssl rand -base64 32` prints 44); shorter is refused in production. */
export const MIN_INTAKE_API_KEY_LENGTH = 32;

const port = () => Joi.number().integer().min(0).max(65535);
const positiveInt = () => Joi.number().integer().min(1);
const amqpUri = () => Joi.string().uri({ scheme: ['amqp', 'amqps'] });

const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'test', 'production').default('development'),
  SERVICE: Joi.string().valid(...SERVICE_NAMES),
  LOG_LEVEL: Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').default('info'),
  LOG_PRETTY: Joi.boolean().default(false),

  HTTP_HOST: Joi.string().hostname().default('0.0.0.0'),
  PORT: port(),
  PRODUCER_PORT: port().default(3000),
  CONSUMER_PORT: port().default(3001),
  WS_PORT: port().default(8080),
  JOBS_PORT: port().default(3002),
  MAX_BODY_BYTES: positiveInt().default(64 * 1024),
  BATCH_MAX_BODY_BYTES: positiveInt().default(1024 * 1024),
  RETRY_AFTER_SECONDS: positiveInt().default(5),
  // Comma-separated origins or `*`; unset allows any http://localhost / 127.0.0.1 port outside production.
  CORS_ORIGINS: Joi.string().max(2000),
  // Slowloris: a client dribbling its headers (or sending nothing) held a socket for 66 s.
  // Idle keep-alive sockets between requests are bounded by the 65 s keep-alive instead.
  HTTP_HEADERS_TIMEOUT_MS: positiveInt().default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt().default(30_000),
  HTTP_MAX_CONNECTIONS: positiveInt().default(5000),
  HTTP_RATE_LIMIT_PER_MINUTE: positiveInt().default(600),
  // Intake callers are a few backend servers sending at volume: far above one instance's
  // capacity (~500 events/s), so only a flood from one address meets it.
  TRUST_PROXY: Joi.number().integer().min(0).max(10).default(0),
  // Only a base URL: the page appends the API paths to it.
  DEMO_PRODUCER_URL: Joi.string().uri({ scheme: ['http', 'https'] }).max(2000),

  RABBITMQ_URL: amqpUri().default('amqp://guest:guest@127.0.0.1:5672'),
  AMQP_NAME_PREFIX: Joi.string().allow('').pattern(/^[A-Za-z0-9._-]*$/).max(64).default(''),
  AMQP_HEARTBEAT_SECONDS: positiveInt().default(15),
  PUBLISH_CONFIRM_TIMEOUT_MS: positiveInt().default(5000),

  REDIS_URL: Joi.string().uri({ scheme: ['redis', 'rediss'] }).default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: Joi.string().allow('').max(64).default(''),
  // Comma-separated `host:port` or `redis[s]://[user:password@]host:port` entries (checked in
  // loadConfig, whose messages never repeat a password).
  REDIS_CLUSTER_NODES: Joi.string().max(4096),

  MONGO_URL: Joi.string().uri({ scheme: ['mongodb', 'mongodb+srv'] }),
  MONGO_URI: Joi.string().uri({ scheme: ['mongodb', 'mongodb+srv'] }),
  MONGO_FALLBACK_WAIT_MS: Joi.number().integer().min(0).max(5000).default(50),
  MONGO_QUERY_TIMEOUT_MS: positiveInt().default(2000),
  MONGO_BATCH_TIMEOUT_MS: positiveInt().default(5000),
  MONGO_MAX_POOL_SIZE: positiveInt().max(1000).default(10),

  CONNECT_TIMEOUT_MS: positiveInt().default(10_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt().default(10_000),

  WS_AUTH_MODE: Joi.string().valid('token', 'dev').default('token'),
  // Required in production by the services that verify tokens, unless an auth server's public key
  // verifies them instead (checked in loadConfig, which knows the service).
  JWT_SECRET: Joi.string().min(32),
  // PEM SPKI (RS256 or ES256); literal "\n" in a one-line variable are read as line breaks.
  JWT_PUBLIC_KEY: Joi.string().max(16_384),
  JWT_JWKS_FILE: Joi.string().max(4096),
  // Comma-separated; narrows the algorithms of the configured key, never widens them.
  JWT_ALGORITHMS: Joi.string().max(200),
  JWT_ISSUER: Joi.string().max(1000),
  JWT_AUDIENCE: Joi.string().max(1000),
  // 30 days at most: a longer-lived token is a password that cannot be changed.
  JWT_MAX_LIFETIME_SECONDS: positiveInt().max(30 * 24 * 3600).default(24 * 3600),
  JWT_CLOCK_TOLERANCE_SECONDS: Joi.number().integer().min(0).max(300).default(30),
  // Comma-separated. The keys themselves are checked in loadConfig, whose messages never repeat a
  // value (Joi's pattern message would print the whole list to the start-up log).
  INTAKE_API_KEYS: Joi.string().max(4096),

  CONSUMER_PREFETCH: positiveInt().max(10_000).default(512),
  CONSUMER_BATCH_MAX: positiveInt().max(10_000).default(256),
  EVENT_DEDUPE_WINDOW_SECONDS: positiveInt().default(24 * 3600),
  ACTION_DEDUPE_WINDOW_MS: positiveInt().default(10_000),
  RATE_LIMIT_ACTOR_PER_MINUTE: positiveInt().default(120),
  RATE_LIMIT_RECIPIENT_PER_MINUTE: positiveInt().default(300),
  BUFFER_TTL_SECONDS: positiveInt().default(7 * 24 * 3600),
  RETRY_MAX_ATTEMPTS: Joi.number().integer().min(0).max(20).default(5),
  RETRY_BASE_DELAY_MS: positiveInt().default(1000),
  AGGREGATION_WINDOW_MS: positiveInt().default(60_000),
  BATCH_MAX_EVENTS: positiveInt().max(10_000).default(500),
  USER_NAME_CACHE_TTL_MS: positiveInt().default(5 * 60_000),
  PREFERENCES_CACHE_TTL_SECONDS: positiveInt().default(30 * 24 * 3600),

  FANOUT_CHUNK_SIZE: positiveInt().max(10_000).default(500),
  FANOUT_PREFETCH: positiveInt().max(100).default(2),

  PERSIST_HANDOFF_LINGER_MS: positiveInt().max(1000).default(20),
  PERSIST_HANDOFF_MAX_NOTIFICATIONS: positiveInt().max(5000).default(500),
  PERSIST_DELAY_MS: positiveInt().default(5000),
  PERSIST_BATCH_SIZE: positiveInt().max(10_000).default(200),
  PERSIST_FLUSH_MS: positiveInt().default(250),
  PERSIST_PREFETCH: positiveInt().max(50_000).default(200),
  MAX_STORED_PER_USER: positiveInt().default(1000),
  PERSIST_BULK_MAX_OPS: positiveInt().max(100_000).default(90),

  AUTH_TIMEOUT_MS: positiveInt().default(5000),
  ACK_TIMEOUT_MS: positiveInt().default(10_000),
  MAX_REDELIVERIES: Joi.number().integer().min(0).max(100).default(5),
  HEARTBEAT_INTERVAL_MS: positiveInt().default(30_000),
  REPLAY_LIMIT: positiveInt().max(10_000).default(500),
  // 64 KiB: a full ACK batch (WS_MAX_ACK_BATCH = 500 ids of up to 64 characters) is 33,534
  // bytes and must fit one frame (loadConfig checks it), with room to raise the batch to 977.
  // 16 KiB held only 244 such ids, so a client ACKing a 500-notification replay in one frame
  // was closed with 1009 and got the same replay on every reconnect.
  WS_MAX_FRAME_BYTES: positiveInt().default(64 * 1024),
  WS_MAX_FRAMES_PER_SECOND: positiveInt().default(50),
  WS_MAX_SOCKETS_PER_USER: positiveInt().default(10),
  WS_MAX_BUFFERED_BYTES: positiveInt().default(1024 * 1024),
  // As large as REPLAY_LIMIT's default, so a client can ACK a whole replay in one frame.
  WS_MAX_ACK_BATCH: positiveInt().max(10_000).default(500),
  WS_LISTEN_BACKLOG_CONNECTIONS: positiveInt().max(65_535).default(4096),
  // Room above the 20,000 idle sockets one process is sized for (docs/performance.md), for
  // scrapes and for the overlap of a reconnect storm; ~10 KB each, so about 250 MB at the cap.
  WS_MAX_CONNECTIONS: positiveInt().default(25_000),
})
  .unknown(true)
  .prefs({ abortEarly: false, convert: true });

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** `INTAKE_API_KEYS`: comma-separated, blanks around a key ignored, so `new,old` reads naturally. */
export function parseKeyList(raw: string | undefined): string[] {
  return raw === undefined ? [] : raw.split(',').map((k) => k.trim()).filter(Boolean);
}

/** A key travels in a header and is listed with commas: printable ASCII, no space, no comma. */
const KEY_CHARACTERS = /^[\x21-\x2b\x2d-\x7e]+$/;

/**
 * What is wrong with INTAKE_API_KEYS, naming keys by position only: a key, even a rejected one,
 * must never reach a log. `required` is false outside production and for services that do not
 * take events.
 */
function intakeKeyProblems(raw: string | undefined, keys: string[], production: boolean, required: boolean): string[] {
  if (raw !== undefined && keys.length === 0) return ['INTAKE_API_KEYS: is set but holds no key'];
  if (keys.length === 0) {
    return required
      ? ['INTAKE_API_KEYS: required in production: event intake would accept events from anyone (docs/security.md "Intake API keys" says how to create one)']
      : [];
  }
  const problems: string[] = [];
  keys.forEach((key, i) => {
    const which = `key ${i + 1} of ${keys.length}`;
    if (!KEY_CHARACTERS.test(key)) problems.push(`INTAKE_API_KEYS: ${which} has characters other than printable ASCII (no spaces, no commas)`);
    if (!production) return;
    if (key === DEV_INTAKE_API_KEY) problems.push(`INTAKE_API_KEYS: ${which} is the built-in development key, which is public; create a key of your own`);
    else if (key.length < MIN_INTAKE_API_KEY_LENGTH) problems.push(`INTAKE_API_KEYS: ${which} is shorter than ${MIN_INTAKE_API_KEY_LENGTH} characters`);
  });
  return problems;
}

/**
 * REDIS_CLUSTER_NODES: seed nodes as `host:port` or `redis[s]://[user:password@]host:port`. Every
 * entry that names credentials or TLS must name the same ones (one cluster, one ACL user).
 * Problems name entries by position: an entry may carry a password.
 */
export function parseClusterNodes(raw: string): { settings: RedisClusterSettings } | { problems: string[] } {
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) return { problems: ['REDIS_CLUSTER_NODES: is set but names no node'] };
  const problems: string[] = [];
  const nodes: RedisClusterSettings['nodes'] = [];
  const auth = new Set<string>();
  entries.forEach((entry, i) => {
    const which = `REDIS_CLUSTER_NODES: entry ${i + 1} of ${entries.length}`;
    let url: URL;
    try {
      url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `redis://${entry}`);
    } catch {
      problems.push(`${which} is neither host:port nor a redis:// URL`);
      return;
    }
    const port = Number(url.port);
    if (!['redis:', 'rediss:'].includes(url.protocol)) problems.push(`${which}: only redis:// and rediss:// are understood`);
    else if (!url.hostname || !Number.isInteger(port) || port < 1 || port > 65535 || (url.pathname !== '' && url.pathname !== '/')) {
      problems.push(`${which} must name a host and a port, and no database (a cluster has only database 0)`);
    } else {
      nodes.push({ host: url.hostname, port });
      auth.add(JSON.stringify([url.protocol === 'rediss:', decodeURIComponent(url.username), decodeURIComponent(url.password)]));
    }
  });
  if (auth.size > 1) problems.push('REDIS_CLUSTER_NODES: the entries disagree on user, password or TLS; one cluster has one set for every node');
  if (problems.length > 0) return { problems };
  const [tls, username, password] = JSON.parse([...auth][0]!) as [boolean, string, string];
  return { settings: { nodes, username: username || undefined, password: password || undefined, tls } };
}

/** Treats empty strings as unset: Railway and .env files often carry `VAR=`. */
function withoutEmpty(env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
}

/**
 * `service` is the service the config is loaded for (else SERVICE): only the producer takes
 * events, so only it must hold an intake key in production; the other services never see one.
 * Unknown (a tool, a test) counts as the producer, so nothing is let through by omission.
 */
export function loadConfig(env: Env = process.env, service?: ServiceName): Config {
  const { value: v, error } = envSchema.validate(withoutEmpty(env));
  if (error) {
    throw new ConfigError(error.details.map((d) => `${String(d.path.join('.'))}: ${d.message}`));
  }
  const problems: string[] = [];
  if (v.MONGO_URL && v.MONGO_URI && v.MONGO_URL !== v.MONGO_URI) {
    problems.push('MONGO_URL / MONGO_URI: both are set and differ; set only one');
  }
  const cluster = v.REDIS_CLUSTER_NODES === undefined ? undefined : parseClusterNodes(v.REDIS_CLUSTER_NODES);
  if (cluster && 'problems' in cluster) problems.push(...cluster.problems);
  if (cluster && withoutEmpty(env).REDIS_URL !== undefined) {
    problems.push('REDIS_URL / REDIS_CLUSTER_NODES: both are set; a cluster is reached through REDIS_CLUSTER_NODES alone, so unset REDIS_URL');
  }
  if (cluster && /[{}]/.test(v.REDIS_KEY_PREFIX)) {
    // The hash tag is the first {...} of a key: a brace in the prefix would decide every key's slot
    // (shared/keys.ts), putting a user's keys in different slots or every key in one.
    problems.push('REDIS_KEY_PREFIX: must not contain { or } on a Redis Cluster (braces choose the hash slot; shared/keys.ts)');
  }
  if (v.MONGO_QUERY_TIMEOUT_MS >= v.SHUTDOWN_TIMEOUT_MS) {
    // A request in flight at SIGTERM is waited for: a deadline past the shutdown bound would let it
    // hold the exit. (A batch write is not: jobs hands its batch back after half the bound.)
    problems.push('MONGO_QUERY_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS');
  }
  const production = v.NODE_ENV === 'production';
  if (production && v.JWT_SECRET === DEV_JWT_SECRET) {
    problems.push('JWT_SECRET: the built-in development secret is public; set a secret of your own');
  }
  const tokenKey = readKeySource(v);
  if (!tokenKey.ok) problems.push(...tokenKey.problems);
  // The consumer and jobs verify no token, so they need no secret (an unknown service counts as one that does).
  const verifiesTokens = !['consumer', 'jobs'].includes(service ?? v.SERVICE ?? 'producer');
  if (production && verifiesTokens && v.JWT_SECRET === undefined && v.JWT_PUBLIC_KEY === undefined && v.JWT_JWKS_FILE === undefined) {
    problems.push('JWT_SECRET: required in production (it verifies users\' tokens) unless JWT_PUBLIC_KEY or JWT_JWKS_FILE is set');
  }
  if (v.HTTP_HEADERS_TIMEOUT_MS > v.HTTP_REQUEST_TIMEOUT_MS) {
    // Node refuses a headers timeout longer than the whole request's.
    problems.push('HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS: the headers timeout must not exceed the request timeout');
  }
  if (production && v.WS_AUTH_MODE === 'dev') {
    problems.push('WS_AUTH_MODE: dev accepts a bare userId without a token, so anyone could read any user\'s notifications; production needs token');
  }
  const corsOrigins = v.CORS_ORIGINS ? String(v.CORS_ORIGINS).split(',').map((o: string) => o.trim()).filter(Boolean) : [];
  if (production && corsOrigins.includes('*')) {
    // producer/cors.ts answers `*` by echoing whatever origin asks, so every website could send
    // requests carrying a user's token (or an intake key) from a browser and read the answers.
    problems.push('CORS_ORIGINS: * lets any website call the API with a user\'s token and read the answers; list the allowed origins');
  }
  const intakeKeys = parseKeyList(v.INTAKE_API_KEYS);
  const takesEvents = (service ?? v.SERVICE ?? 'producer') === 'producer';
  problems.push(...intakeKeyProblems(v.INTAKE_API_KEYS, intakeKeys, production, production && takesEvents));
  const largestAck = ackFrameBytes(v.WS_MAX_ACK_BATCH);
  if (largestAck > v.WS_MAX_FRAME_BYTES) {
    problems.push(
      `WS_MAX_ACK_BATCH / WS_MAX_FRAME_BYTES: an ACK of ${v.WS_MAX_ACK_BATCH} ids of ${MAX_NOTIFICATION_ID_LENGTH} characters is ` +
        `${largestAck} bytes, more than WS_MAX_FRAME_BYTES=${v.WS_MAX_FRAME_BYTES}; a client sending the largest allowed ACK ` +
        `would be closed with 1009. Raise WS_MAX_FRAME_BYTES to at least ${largestAck} or lower WS_MAX_ACK_BATCH`,
    );
  }
  if (problems.length > 0 || !tokenKey.ok) throw new ConfigError(problems);

  const jwtSecret: string = v.JWT_SECRET ?? DEV_JWT_SECRET;
  return {
    nodeEnv: v.NODE_ENV,
    service: v.SERVICE,
    log: { level: v.LOG_LEVEL, pretty: v.LOG_PRETTY },
    http: {
      host: v.HTTP_HOST,
      portOverride: v.PORT,
      ports: { producer: v.PRODUCER_PORT, consumer: v.CONSUMER_PORT, 'ws-server': v.WS_PORT, jobs: v.JOBS_PORT },
      maxBodyBytes: v.MAX_BODY_BYTES,
      batchMaxBodyBytes: v.BATCH_MAX_BODY_BYTES,
      retryAfterSeconds: v.RETRY_AFTER_SECONDS,
      cors: {
        origins: corsOrigins,
        allowLocalhost: v.CORS_ORIGINS === undefined && v.NODE_ENV !== 'production',
      },
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT_MS,
      maxConnections: v.HTTP_MAX_CONNECTIONS,
      rateLimit: { perMinute: v.HTTP_RATE_LIMIT_PER_MINUTE },
      trustProxyHops: v.TRUST_PROXY,
    },
    demo: { producerUrl: v.DEMO_PRODUCER_URL === undefined ? undefined : String(v.DEMO_PRODUCER_URL).replace(/\/+$/, '') },
    rabbitmq: {
      url: v.RABBITMQ_URL,
      namePrefix: v.AMQP_NAME_PREFIX,
      heartbeatSeconds: v.AMQP_HEARTBEAT_SECONDS,
      publishConfirmTimeoutMs: v.PUBLISH_CONFIRM_TIMEOUT_MS,
    },
    redis: { url: v.REDIS_URL, keyPrefix: v.REDIS_KEY_PREFIX, cluster: cluster && 'settings' in cluster ? cluster.settings : undefined },
    mongo: {
      url: v.MONGO_URL ?? v.MONGO_URI ?? 'mongodb://127.0.0.1:27017/notifications',
      fallbackWaitMs: v.MONGO_FALLBACK_WAIT_MS,
      queryTimeoutMs: v.MONGO_QUERY_TIMEOUT_MS,
      batchTimeoutMs: v.MONGO_BATCH_TIMEOUT_MS,
      maxPoolSize: v.MONGO_MAX_POOL_SIZE,
    },
    connectTimeoutMs: v.CONNECT_TIMEOUT_MS,
    shutdownTimeoutMs: v.SHUTDOWN_TIMEOUT_MS,
    auth: {
      mode: v.WS_AUTH_MODE,
      jwtSecret,
      jwtSecretIsDefault: v.JWT_SECRET === undefined && tokenKey.key.kind === 'secret',
      token: {
        key: tokenKey.key,
        algorithms: tokenKey.algorithms,
        issuer: v.JWT_ISSUER,
        audience: v.JWT_AUDIENCE,
        maxLifetimeSeconds: v.JWT_MAX_LIFETIME_SECONDS,
        clockToleranceSeconds: v.JWT_CLOCK_TOLERANCE_SECONDS,
      },
    },
    intake: { apiKeys: intakeKeys },
    pipeline: {
      consumerPrefetch: v.CONSUMER_PREFETCH,
      consumerBatchMax: v.CONSUMER_BATCH_MAX,
      eventDedupeWindowSeconds: v.EVENT_DEDUPE_WINDOW_SECONDS,
      actionDedupeWindowMs: v.ACTION_DEDUPE_WINDOW_MS,
      rateLimitActorPerMinute: v.RATE_LIMIT_ACTOR_PER_MINUTE,
      rateLimitRecipientPerMinute: v.RATE_LIMIT_RECIPIENT_PER_MINUTE,
      bufferTtlSeconds: v.BUFFER_TTL_SECONDS,
      retryMaxAttempts: v.RETRY_MAX_ATTEMPTS,
      retryBaseDelayMs: v.RETRY_BASE_DELAY_MS,
      aggregationWindowMs: v.AGGREGATION_WINDOW_MS,
      batchMaxEvents: v.BATCH_MAX_EVENTS,
      userNameCacheTtlMs: v.USER_NAME_CACHE_TTL_MS,
      preferencesCacheTtlSeconds: v.PREFERENCES_CACHE_TTL_SECONDS,
    },
    fanout: {
      chunkSize: v.FANOUT_CHUNK_SIZE,
      prefetch: v.FANOUT_PREFETCH,
    },
    persist: {
      handOffLingerMs: v.PERSIST_HANDOFF_LINGER_MS,
      handOffMaxNotifications: v.PERSIST_HANDOFF_MAX_NOTIFICATIONS,
      delayMs: v.PERSIST_DELAY_MS,
      batchSize: v.PERSIST_BATCH_SIZE,
      flushMs: v.PERSIST_FLUSH_MS,
      prefetch: v.PERSIST_PREFETCH,
      maxStoredPerUser: v.MAX_STORED_PER_USER,
      bulkMaxOps: v.PERSIST_BULK_MAX_OPS,
    },
    ws: {
      authTimeoutMs: v.AUTH_TIMEOUT_MS,
      ackTimeoutMs: v.ACK_TIMEOUT_MS,
      maxRedeliveries: v.MAX_REDELIVERIES,
      heartbeatIntervalMs: v.HEARTBEAT_INTERVAL_MS,
      replayLimit: v.REPLAY_LIMIT,
      maxFrameBytes: v.WS_MAX_FRAME_BYTES,
      maxFramesPerSecond: v.WS_MAX_FRAMES_PER_SECOND,
      maxSocketsPerUser: v.WS_MAX_SOCKETS_PER_USER,
      maxBufferedBytes: v.WS_MAX_BUFFERED_BYTES,
      maxAckBatch: v.WS_MAX_ACK_BATCH,
      listenBacklogConnections: v.WS_LISTEN_BACKLOG_CONNECTIONS,
      maxConnections: v.WS_MAX_CONNECTIONS,
    },
  };
}

/** The port a service listens on: Railway's `PORT` wins over the per-service default. */
export function servicePort(config: Config, service: ServiceName): number {
  return config.http.portOverride ?? config.http.ports[service];
}

/** Every variable the config reads; `.env.example` and the README table are checked against it. */
export function knownEnvVars(): string[] {
  return Object.keys((envSchema.describe() as { keys: Record<string, unknown> }).keys);
}

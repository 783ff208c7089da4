import Joi from 'joi';
import { ackFrameBytes, MAX_NOTIFICATION_ID_LENGTH } from './ack-frame.js';
import { readKeySource, type TokenRules } from './auth/key-source.js';
import {
  decimal,
  envVar,
  flag,
  flatten,
  integer,
  list,
  mapped,
  oneOf,
  readTree,
  splitList,
  text,
  mongoUrl,
  mongoUrlParts,
  url,
  urlList,
  SERVICE_NAMES,
  type Env,
  type EnvVar,
  type Resolved,
  type ServiceName,
} from './env-var.js';

/**
 * The one place that reads the environment. Every variable is declared once, in DECLARATIONS
 * below, and validated at start-up; services receive a `Config` and never look at `process.env`.
 *
 * Adding a variable is ONE declaration, placed in the tree where services will find its value:
 *
 *   rabbitmq: {
 *     ...
 *     queueType: envVar('AMQP_QUEUE_TYPE', oneOf(['classic', 'quorum']), {
 *       default: 'classic',
 *       services: 'every',          // or ['consumer', 'jobs']: who reads it (the docs group by it)
 *       level: 'essential',         // or 'tuning': only essential ones reach the README
 *       doc: 'What RabbitMQ queues are declared as ...',
 *       production: 'quorum on a cluster of three nodes ...', // optional: when the default is not right there
 *     }),
 *   },
 *
 * `config.rabbitmq.queueType` then exists, typed 'classic' | 'quorum': `Config` is inferred from
 * the tree, never written by hand. Then `npx tsx scripts/env-table.ts --write` rewrites the
 * README's table of essential variables, docs/configuration.md and .env.example from the
 * declarations (test/unit/env-docs.test.ts fails until it has run).
 *
 * Rules: the unit is in the name (_MS, _SECONDS, _BYTES, _PER_MINUTE); parsers come from
 * shared/env-var.ts (integer, flag, oneOf, url, text, list, mapped); a rule across variables or
 * a production refusal goes in `problemsOf`, naming its variables; a value built from several
 * variables goes in `assemble`. An empty variable counts as unset (Railway and .env files often
 * carry `VAR=`).
 */

export { SERVICE_NAMES, type ServiceName } from './env-var.js';

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

/** `INTAKE_API_KEYS`: comma-separated, blanks around a key ignored, so `new,old` reads naturally. */
export function parseKeyList(raw: string | undefined): string[] {
  return raw === undefined ? [] : splitList(raw);
}

const port = () => integer(0, 65535);
/** Read as both of the settings that replaced it, so a deployment that set it behaves as before. */
const RETRY_MAX_ATTEMPTS = {
  name: 'RETRY_MAX_ATTEMPTS',
  deprecated:
    'It meant two things: retries before a dead letter in the consumer, and the length of a ladder whose last rung jobs keeps for ever. ' +
    'It is read as both; 0 is now refused (jobs needs a rung to wait on: with none it requeued a failed batch in a loop).',
};
const portDefault = "The default (a container runs one service); Railway's PORT overrides it.";
const same = 'Same value on every service: each declares the whole topology, and the queue names carry it.';

const DECLARATIONS = {
  nodeEnv: envVar('NODE_ENV', oneOf(['development', 'test', 'production']), {
    default: 'development',
    services: 'every',
    level: 'essential',
    doc: 'production requires a strong JWT_SECRET (or a public key) on the producer and ws-server and INTAKE_API_KEYS on the producer, and refuses WS_AUTH_MODE=dev and CORS_ORIGINS=*; development and test allow them.',
    production: "`production` (the Docker image's default; never override it).",
  }),
  service: envVar('SERVICE', oneOf(SERVICE_NAMES), {
    services: 'every',
    level: 'essential',
    doc: 'Which service `npm start` (`node dist/start.js`, the Docker image) runs.',
    production: 'One per deployed service (Railway: set on each service; config-as-code cannot).',
  }),
  log: {
    level: envVar('LOG_LEVEL', oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), {
      default: 'info',
      services: 'every',
      level: 'essential',
      doc: 'Lowest level logged.',
      production: '`info`; `debug` is verbose, for a short investigation.',
    }),
    pretty: envVar('LOG_PRETTY', flag(), {
      default: false,
      services: 'every',
      level: 'tuning',
      doc: 'Human-readable logs (the dev runner sets it); JSON otherwise. Needs pino-pretty, a dev dependency: without it (the Docker image) JSON and a warning.',
      production: '`false`: a log store wants JSON.',
    }),
    /** Fraction of HTTP access-log lines kept for answers below 500 (shared/http/request-log.ts); 0 = none. */
    accessSampleRatio: envVar('LOG_ACCESS_SAMPLE_RATIO', decimal(0, 1), {
      default: 1,
      services: 'every',
      level: 'tuning',
      doc: 'Fraction of HTTP access-log lines kept for answers below 500 (0: none); a 5xx is always logged. Health checks and scrapes log at debug.',
      production:
        '1, unless the intake rate makes one line per event too much for your log store (0.1 keeps one in ten).',
    }),
  },
  http: {
    host: envVar('HTTP_HOST', text(Joi.string().hostname(), 'hostname or IP address'), {
      services: 'every',
      level: 'tuning',
      doc: "Interface every service listens on. Unset: every interface, IPv6 and IPv4 alike (Node listens on `::`, which takes IPv4 connections too, or on 0.0.0.0 on a host without IPv6), so a private network of either family reaches the HTTP port (Railway's is IPv6-only in environments created before 16 October 2025). `0.0.0.0` listens on IPv4 only.",
      production: 'Leave it unset.',
    }),
    portOverride: envVar('PORT', port(), {
      services: 'every',
      level: 'essential',
      doc: 'Overrides the port of whichever service runs.',
      production: 'Railway injects it; elsewhere leave it unset and use the per-service ports.',
    }),
    ports: {
      producer: envVar('PRODUCER_PORT', port(), {
        default: 3000,
        services: ['producer', 'ws-server'],
        level: 'essential',
        doc: "Producer HTTP API (the ws-server's demo page calls it here unless DEMO_PRODUCER_URL is set).",
        production: portDefault,
      }),
      consumer: envVar('CONSUMER_PORT', port(), {
        default: 3001,
        services: ['consumer'],
        level: 'essential',
        doc: 'Consumer health and metrics.',
        production: portDefault,
      }),
      'ws-server': envVar('WS_PORT', port(), {
        default: 8080,
        services: ['ws-server'],
        level: 'essential',
        doc: 'ws-server: WebSocket, health, metrics, demo page.',
        production: portDefault,
      }),
      jobs: envVar('JOBS_PORT', port(), {
        default: 3002,
        services: ['jobs'],
        level: 'essential',
        doc: 'jobs health and metrics.',
        production: portDefault,
      }),
    },
    maxBodyBytes: envVar('MAX_BODY_BYTES', integer(1), {
      default: 64 * 1024,
      services: ['producer'],
      level: 'tuning',
      doc: 'Largest accepted JSON body (413 beyond).',
    }),
    // POST /events/batch carries up to BATCH_MAX_EVENTS events, so it has its own limit.
    batchMaxBodyBytes: envVar('BATCH_MAX_BODY_BYTES', integer(1), {
      default: 1024 * 1024,
      services: ['producer'],
      level: 'tuning',
      doc: 'Largest accepted body of POST /events/batch.',
    }),
    retryAfterSeconds: envVar('RETRY_AFTER_SECONDS', integer(1), {
      default: 5,
      services: ['producer'],
      level: 'tuning',
      doc: 'Retry-After sent with a 503 when the broker is unreachable or slow to confirm.',
    }),
    corsOrigins: envVar('CORS_ORIGINS', list(2000, parseKeyList), {
      services: ['producer'],
      level: 'essential',
      doc: 'Origins allowed to call the producer from a browser (comma-separated; `*` only outside production); unset: any http://localhost or 127.0.0.1 port outside production, none in production.',
      production: 'The origins of the web apps that call the read API (https://app.example); `*` is refused.',
    }),
    // Slowloris: a client dribbling its headers (or sending nothing) held a socket for 66 s.
    // Idle keep-alive sockets between requests are bounded by the 65 s keep-alive instead.
    headersTimeoutMs: envVar('HTTP_HEADERS_TIMEOUT_MS', integer(1), {
      default: 10_000,
      services: 'every',
      level: 'tuning',
      doc: "Longest a client may take to send a request's headers, from connecting (or from the first byte of its next request on a keep-alive socket): 408 and closed beyond. Bounds a connection that sends nothing, a slowloris, and a ws-server connection that never completes its upgrade.",
    }),
    requestTimeoutMs: envVar('HTTP_REQUEST_TIMEOUT_MS', integer(1), {
      default: 30_000,
      services: 'every',
      level: 'tuning',
      doc: 'Longest a client may take to send a whole request, body included (408 and closed beyond); at least HTTP_HEADERS_TIMEOUT_MS.',
    }),
    maxConnections: envVar('HTTP_MAX_CONNECTIONS', integer(1), {
      default: 5000,
      services: ['producer', 'consumer', 'jobs'],
      level: 'tuning',
      doc: 'Open connections one producer, consumer or jobs process accepts at once; past it a new connection is closed before its request (the ws-server has WS_MAX_CONNECTIONS).',
    }),
    rateLimit: {
      // Intake callers are a few backend servers sending at volume: far above one instance's
      // capacity (~500 events/s), so only a flood from one address meets it.
      perMinute: envVar('HTTP_RATE_LIMIT_PER_MINUTE', integer(1), {
        default: 600,
        services: ['producer'],
        level: 'tuning',
        doc: 'Producer requests per client address and minute, counted in Redis across every instance (429 + Retry-After beyond); /healthz, /readyz, /metrics and requests with a valid intake API key are not counted; an IPv6 client counts by its /64.',
        production:
          'Right only with TRUST_PROXY matching the proxies in front: otherwise every client shares one budget.',
      }),
    },
    trustProxyHops: envVar('TRUST_PROXY', integer(0, 10), {
      default: 0,
      services: ['producer'],
      level: 'essential',
      doc: "Proxies in front of the producer whose X-Forwarded-For is believed (Express 'trust proxy' hops).",
      production:
        '`1` on Railway (its edge proxy); `0` when clients connect directly. Never more than the proxies really in front: a client could then pick its address.',
    }),
  },
  demo: {
    // Only a base URL: the page appends the API paths to it.
    producerUrl: envVar(
      'DEMO_PRODUCER_URL',
      mapped(url(['http', 'https'], 2000), (u) => u.replace(/\/+$/, '')),
      {
        services: ['ws-server'],
        level: 'essential',
        doc: "The producer's public base URL the ws-server's demo page calls; unset: the page's own host with PRODUCER_PORT (right for `npm run dev` and Docker Compose).",
        production:
          'On Railway, where each service has its own domain: `https://${{producer.RAILWAY_PUBLIC_DOMAIN}}` on the ws-server.',
      },
    ),
  },
  rabbitmq: {
    /**
     * Every node a process may connect to: it connects to one and fails over to the next when
     * that one is lost (shared/amqp/connection.ts). `url` (assembled) is the first.
     */
    urls: envVar('RABBITMQ_URL', urlList(['amqp', 'amqps']), {
      default: ['amqp://guest:guest@127.0.0.1:5672'],
      services: 'every',
      level: 'essential',
      doc: 'The broker, or the nodes of a cluster separated by commas (a process fails over between them); credentials never appear in logs.',
      production:
        'Your broker, `amqps://user:pass@host/vhost` for TLS (CloudAMQP), or every node of a cluster; the same on every service.',
    }),
    /** The type every queue is declared as (shared/amqp/topology.ts). */
    queueType: envVar('AMQP_QUEUE_TYPE', oneOf(['classic', 'quorum']), {
      default: 'classic',
      services: 'every',
      level: 'essential',
      doc: 'What every queue is declared as. quorum: replicated queues, at-least-once dead-lettering, one events queue per priority category (docs/deploy.md). Queue names carry the type, so switching declares new queues.',
      production:
        'quorum on a RabbitMQ cluster (3.10+; CloudAMQP and Amazon MQ default to it on 4.x); the same on every service.',
    }),
    namePrefix: envVar(
      'AMQP_NAME_PREFIX',
      text(
        Joi.string()
          .allow('')
          .pattern(/^[A-Za-z0-9._-]*$/)
          .max(64),
        'letters, digits, . _ -; 64 at most',
      ),
      {
        default: '',
        services: 'every',
        level: 'essential',
        doc: 'Prefix of every exchange and queue name (isolates tenants and test runs on one vhost).',
        production: same,
      },
    ),
    heartbeatSeconds: envVar('AMQP_HEARTBEAT_SECONDS', integer(1), {
      default: 15,
      services: 'every',
      level: 'tuning',
      doc: 'AMQP heartbeat interval: how soon a silently dead broker connection is noticed and reopened.',
    }),
    publishConfirmTimeoutMs: envVar('PUBLISH_CONFIRM_TIMEOUT_MS', integer(1), {
      default: 5000,
      services: 'every',
      level: 'tuning',
      doc: "How long a publish may wait for the broker's confirm before it counts as failed (the producer then answers 503). On the producer, at least 1 s below SHUTDOWN_TIMEOUT_MS: a POST waiting for its confirm at SIGTERM is answered before the exit.",
    }),
  },
  redis: {
    url: envVar('REDIS_URL', url(['redis', 'rediss']), {
      default: 'redis://127.0.0.1:6379',
      services: 'every',
      level: 'essential',
      doc: 'The Redis that holds the delivery buffer, dedupe and rate-limit keys.',
      production: 'Your Redis, `rediss://` for TLS; the same on every service.',
    }),
    keyPrefix: envVar('REDIS_KEY_PREFIX', text(Joi.string().allow('').max(64), 'text, 64 characters at most'), {
      default: '',
      services: 'every',
      level: 'essential',
      doc: 'Prefix of every Redis key (isolates tenants and test runs on one Redis).',
      production: 'Same value on every service: they share keys.',
    }),
    commandTimeoutMs: envVar('REDIS_COMMAND_TIMEOUT_MS', integer(1), {
      default: 2000,
      services: ['producer'],
      level: 'tuning',
      doc: 'Deadline of one Redis command on the producer (ioredis commandTimeout): past it the request waiting on it answers 503 store_unavailable instead of hanging on a Redis that stopped answering. Counted from when the command is written: one queued behind an unanswered batch (auto-pipelining sends the next batch once the last is answered) may wait up to twice this. Below SHUTDOWN_TIMEOUT_MS. The other services set none: nothing waits on them but the broker, which redelivers.',
    }),
    pingIntervalMs: envVar('REDIS_PING_INTERVAL_MS', integer(0, 60_000), {
      default: 5000,
      services: 'every',
      level: 'tuning',
      doc: "Every service PINGs each of its connections to Redis this often: its main client on a single server, and its pub/sub subscribers (on a Redis Cluster too; the cluster client's own node connections are not watched). A connection that read nothing, neither the answer nor anything else, by the next PING, or whose handshake read nothing for 10 s plus this, is dropped and opened again (shared/redis-liveness.ts); each drop in a row doubles the wait for the next answer, up to a minute. Catches a connection whose peer is gone without a word (a failover that moved the server's address, a NAT or load balancer that dropped an idle flow, a hung server), which the operating system would notice only after minutes to hours; a subscriber's wakes stop silently on such a connection. The PINGs also keep an idle subscriber's flow alive. 0: off.",
    }),
    /** Raw seed-node list; `cluster` (assembled) is what shared/redis.ts connects with. */
    clusterNodes: envVar(
      'REDIS_CLUSTER_NODES',
      text(Joi.string().max(4096), '`host:port` or `redis[s]://[user:password@]host:port` entries, comma-separated'),
      {
        services: 'every',
        level: 'essential',
        doc: "A Redis Cluster's seed nodes (any of its nodes; the client discovers the rest); set, it replaces REDIS_URL. Every key one script touches carries the user's hash tag (shared/keys.ts), so the pipeline runs unchanged on a cluster.",
        production:
          'Unset for one Redis server; for a Redis Cluster, two or three of its nodes, the same on every service (docs/deploy.md).',
      },
    ),
  },
  mongo: {
    url: envVar('MONGO_URL', mongoUrl(), {
      default: 'mongodb://127.0.0.1:27017/notifications',
      alias: { name: 'MONGO_URI' },
      services: 'every',
      level: 'essential',
      doc: 'MongoDB (or FerretDB), with the database name in the path.',
      production: 'Your database, e.g. Atlas `mongodb+srv://…/notifications`; the same on every service.',
    }),
    /**
     * The longest the live path (AUTH, the consumer's decisions) waits for a MongoDB read behind a
     * Redis miss before going on without it; the read goes on in the background and fills Redis.
     */
    fallbackWaitMs: envVar('MONGO_FALLBACK_WAIT_MS', integer(0, 5000), {
      default: 50,
      services: ['producer', 'consumer', 'ws-server'],
      level: 'tuning',
      doc: 'Longest the live path (AUTH, consumer decisions) waits for MongoDB behind a Redis miss (preferences, unread count, names); the read then finishes in the background and fills Redis.',
    }),
    queryTimeoutMs: envVar('MONGO_QUERY_TIMEOUT_MS', integer(1), {
      default: 2000,
      services: 'every',
      level: 'tuning',
      doc: 'Deadline of one MongoDB operation (client-side and maxTimeMS); past it a history page answers 503, a batch is retried. Below SHUTDOWN_TIMEOUT_MS.',
    }),
    // FerretDB takes seconds for a few hundred documents where a page read takes milliseconds.
    batchTimeoutMs: envVar('MONGO_BATCH_TIMEOUT_MS', integer(1), {
      default: 5000,
      services: ['producer', 'jobs'],
      level: 'tuning',
      doc: "Deadline of one multi-document write (jobs' batches, read-all): FerretDB needs seconds for a few hundred documents.",
    }),
    maxPoolSize: envVar('MONGO_MAX_POOL_SIZE', integer(1, 1000), {
      default: 10,
      services: 'every',
      level: 'tuning',
      doc: 'MongoDB connections one process holds at most (so operations in flight).',
    }),
  },
  connectTimeoutMs: envVar('CONNECT_TIMEOUT_MS', integer(1), {
    default: 10_000,
    services: 'every',
    level: 'tuning',
    doc: 'A dependency not reachable within this stops start-up (exit 1, naming the variable and host): RabbitMQ and Redis for every service, MongoDB for jobs only (the others start without it, reconnect in the background and answer what needs it with 503 or a fallback). Also the deadline of each attempt to connect, and of creating a collection.',
  }),
  shutdownTimeoutMs: envVar('SHUTDOWN_TIMEOUT_MS', integer(1), {
    default: 10_000,
    services: 'every',
    level: 'tuning',
    doc: 'SIGTERM: longest time to drain before exiting 1.',
    production:
      "Below the platform's grace period (Railway: drainingSeconds; Kubernetes: terminationGracePeriodSeconds).",
  }),
  auth: {
    mode: envVar('WS_AUTH_MODE', oneOf(['token', 'dev']), {
      default: 'token',
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: "token: a user's JWT is required; dev: a bare userId is accepted (demos, Postman, wscat).",
      production: '`token`; `dev` is refused.',
    }),
    // Required in production by the services that verify tokens, unless an auth server's public
    // key verifies them instead (checked in problemsOf, which knows the service).
    jwtSecret: envVar('JWT_SECRET', text(Joi.string().min(32), 'text, at least 32 characters'), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: 'HS256 secret that verifies user tokens (sub = userId); `npm run seed` signs with it. Unset outside production: a built-in development secret.',
      production:
        'Required on the producer and ws-server (the same value on both, a sealed variable) unless JWT_PUBLIC_KEY or JWT_JWKS_FILE is set: `openssl rand -base64 48`.',
    }),
    // PEM SPKI (RS256 or ES256); literal "\n" in a one-line variable are read as line breaks.
    publicKey: envVar('JWT_PUBLIC_KEY', text(Joi.string().max(16_384), 'PEM SPKI public key'), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: "Your auth server's PEM SPKI public key (RSA: RS256, EC P-256: ES256) instead of JWT_SECRET; \\n may stand for line breaks.",
      production:
        'When your auth server signs with RS256 or ES256: then no secret is shared with this service. Set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_FILE.',
    }),
    jwksFile: envVar('JWT_JWKS_FILE', text(Joi.string().max(4096), 'file path'), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: "Path to a JWKS file of your auth server's public keys (picked by kid) instead of JWT_SECRET; read at start-up.",
      production:
        'When the auth server rotates keys: list the old and the new key while tokens of both are alive (a restart reads the file again).',
    }),
    // Narrows the algorithms of the configured key, never widens them.
    algorithms: envVar('JWT_ALGORITHMS', text(Joi.string().max(200), 'comma-separated list of HS256, RS256, ES256'), {
      services: ['producer', 'ws-server'],
      level: 'tuning',
      doc: "Algorithms allowed, a subset of the key's; unset: the key's (HS256, RS256 or ES256).",
    }),
    issuer: envVar('JWT_ISSUER', text(Joi.string().max(1000), 'text'), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: 'Required iss of every token, when set.',
      production: "Your auth server's issuer, so tokens it issued for other purposes are refused.",
    }),
    audience: envVar('JWT_AUDIENCE', text(Joi.string().max(1000), 'text'), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: 'Required aud of every token, when set.',
      production: 'The audience your auth server puts in tokens meant for this service.',
    }),
    // 30 days at most: a longer-lived token is a password that cannot be changed.
    maxLifetimeSeconds: envVar('JWT_MAX_LIFETIME_SECONDS', integer(1, 30 * 24 * 3600), {
      default: 24 * 3600,
      services: ['producer', 'ws-server'],
      level: 'tuning',
      doc: 'Farthest exp a token may have, and longest exp - iat (at most 30 days).',
    }),
    clockToleranceSeconds: envVar('JWT_CLOCK_TOLERANCE_SECONDS', integer(0, 300), {
      default: 30,
      services: ['producer', 'ws-server'],
      level: 'tuning',
      doc: "Slack for the issuer's clock on exp, nbf and iat; a socket is closed 4401 at exp plus this.",
    }),
  },
  intake: {
    // The keys themselves are checked in problemsOf, whose messages never repeat a value (Joi's
    // pattern message would print the whole list to the start-up log).
    apiKeys: envVar('INTAKE_API_KEYS', list(4096, parseKeyList), {
      services: ['producer', 'ws-server'],
      level: 'essential',
      doc: "Keys the application's backend sends as `Authorization: ApiKey <key>` to POST /events, /like, /events/batch and follow/unfollow; comma-separated (two while rotating). Unset: intake open outside production (npm run dev sets a development key, which the ws-server's demo page uses in dev mode).",
      production:
        'Required on the producer: `openssl rand -base64 32`, at least 32 characters each, a sealed variable (docs/security.md "Intake API keys"). Not needed elsewhere.',
    }),
  },
  pipeline: {
    consumerPrefetch: envVar('CONSUMER_PREFETCH', integer(1, 10_000), {
      default: 512,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Unacked events a consumer holds at once (each stays unacked until its persist batch is confirmed).',
    }),
    consumerBatchMax: envVar('CONSUMER_BATCH_MAX', integer(1, 10_000), {
      default: 256,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Events committed in one Redis pipeline at most (a batch is whatever arrived during the last one).',
    }),
    consumerRedisOutageHoldMs: envVar('CONSUMER_REDIS_OUTAGE_HOLD_MS', integer(0, 300_000), {
      default: 30_000,
      services: ['consumer'],
      level: 'tuning',
      doc: "Longest the consumer holds its next batch once per outage of a single Redis server (after a batch failed on Redis itself; never on a Redis Cluster), probing Redis with a write every 250 ms and going on as soon as it takes one; the held events stay unacked in RabbitMQ's hands. Past it the consumer stops holding until a batch commits again, and every event fails onto the retry ladder as without the hold. A held message waits at most this plus the time the batches ahead of it take to fail: keep it well under the broker's consumer_timeout (30 min by default). 0: no hold.",
    }),
    eventDedupeWindowSeconds: envVar('EVENT_DEDUPE_WINDOW_SECONDS', integer(1), {
      default: 24 * 3600,
      services: ['consumer', 'producer'],
      level: 'tuning',
      doc: "An eventId is processed once within this window; the producer refuses a client's eventId (Idempotency-Key) reused for a different event as long (422).",
    }),
    actionDedupeWindowMs: envVar('ACTION_DEDUPE_WINDOW_MS', integer(1), {
      default: 10_000,
      services: ['consumer'],
      level: 'tuning',
      doc: 'The same action (type, actor, recipient, object) notifies once within this window.',
    }),
    rateLimitActorPerMinute: envVar('RATE_LIMIT_ACTOR_PER_MINUTE', integer(1), {
      default: 120,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Social and promotional notifications an actor may cause per minute (transactional: never limited).',
    }),
    rateLimitRecipientPerMinute: envVar('RATE_LIMIT_RECIPIENT_PER_MINUTE', integer(1), {
      default: 300,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Social and promotional notifications a recipient may receive per minute.',
    }),
    bufferTtlSeconds: envVar('BUFFER_TTL_SECONDS', integer(1), {
      default: 7 * 24 * 3600,
      services: 'every',
      level: 'tuning',
      doc: 'How long Redis buffers each notification for delivery (and keeps its timeline).',
    }),
    retryBaseDelayMs: envVar('RETRY_BASE_DELAY_MS', integer(1), {
      default: 1000,
      services: 'every',
      level: 'tuning',
      doc: "First rung of every retry ladder (the consumer's and jobs'); each further rung doubles it.",
      production: same,
    }),
    retriesBeforeDeadLetter: envVar('CONSUMER_RETRIES_BEFORE_DEAD_LETTER', integer(0, 20), {
      default: 5,
      alias: RETRY_MAX_ATTEMPTS,
      services: 'every',
      level: 'tuning',
      doc: 'Retries of an event or fan-out page that keeps failing on its own (a Redis script error, an unknown error) before the consumer dead-letters it (waits RETRY_BASE_DELAY_MS·2ⁿ: 1, 2, 4, 8, 16 s by default). An outage of Redis, RabbitMQ or MongoDB is never dead-lettered: the message waits on the last rung until the outage ends. 0 dead-letters at the first failure, an outage too (no rung to wait on).',
      production: same,
    }),
    aggregationWindowMs: envVar('AGGREGATION_WINDOW_MS', integer(1), {
      default: 60_000,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Likes, comments and shares on one object fold into one notification within this window.',
    }),
    batchMaxEvents: envVar('BATCH_MAX_EVENTS', integer(1, 10_000), {
      default: 500,
      services: ['producer'],
      level: 'tuning',
      doc: 'Most events in one POST /events/batch.',
    }),
    userNameCacheTtlMs: envVar('USER_NAME_CACHE_TTL_MS', integer(1), {
      default: 5 * 60_000,
      services: ['consumer'],
      level: 'tuning',
      doc: "How long a display name stays cached (the consumer's memory, and Redis's copy).",
    }),
    preferencesCacheTtlSeconds: envVar('PREFERENCES_CACHE_TTL_SECONDS', integer(1), {
      default: 30 * 24 * 3600,
      services: ['producer', 'consumer', 'ws-server'],
      level: 'tuning',
      doc: "How long Redis keeps a user's copy of their preferences (an update replaces it at once; a missing copy is reloaded from MongoDB in the background).",
    }),
    /** How long the consumer keeps a recipient's preferences in memory (consumer/preference-cache.ts); 0 = off. */
    consumerPreferencesCacheMs: envVar('CONSUMER_PREFERENCES_CACHE_MS', integer(0, 3_600_000), {
      default: 30_000,
      services: ['consumer'],
      level: 'tuning',
      doc: "Longest the consumer keeps a recipient's preferences in memory (0: off, every batch reads Redis). An update through the API reaches every consumer at once over Redis pub/sub; this bounds only a change made around the API, one announced while a consumer's subscription was down, or one whose announcement failed.",
    }),
  },
  /** Follower fan-out (docs/pipeline.md "Fan-out"). */
  fanout: {
    chunkSize: envVar('FANOUT_CHUNK_SIZE', integer(1, 10_000), {
      default: 500,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Followers read per fan-out page.',
    }),
    prefetch: envVar('FANOUT_PREFETCH', integer(1, 100), {
      default: 2,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Fan-out pages a consumer works on at once (kept small so direct events never wait).',
    }),
  },
  persist: {
    handOffLingerMs: envVar('PERSIST_HANDOFF_LINGER_MS', integer(1, 1000), {
      default: 20,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Longest a committed notification waits in the consumer for others to share its persist message.',
    }),
    handOffMaxNotifications: envVar('PERSIST_HANDOFF_MAX_NOTIFICATIONS', integer(1, 5000), {
      default: 500,
      services: ['consumer'],
      level: 'tuning',
      doc: 'Notifications per persist message at most.',
    }),
    delayMs: envVar('PERSIST_DELAY_MS', integer(1), {
      default: 5000,
      services: 'every',
      level: 'tuning',
      doc: 'How long a notification waits in the broker before it is persisted (acked ones are then stored as delivered in one write).',
      production: same,
    }),
    sweepIntervalMs: envVar('PERSIST_SWEEP_INTERVAL_MS', integer(0), {
      default: 300_000,
      services: ['jobs'],
      level: 'tuning',
      doc: 'How often one jobs instance scans Redis for notifications whose persist job never arrived (jobs/persist-sweep.ts); a run visits up to a million keys and the next goes on from there. 0 turns the sweep off.',
    }),
    sweepAfterMs: envVar('PERSIST_SWEEP_AFTER_MS', integer(1000), {
      default: 600_000,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Age of an unpersisted mark past which the sweep hands its notification to jobs again; keep it well above PERSIST_DELAY_MS and the time a backlog takes to drain.',
    }),
    batchSize: envVar('PERSIST_BATCH_SIZE', integer(1, 10_000), {
      default: 200,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Persist jobs written per MongoDB batch.',
    }),
    flushMs: envVar('PERSIST_FLUSH_MS', integer(1), {
      default: 250,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Longest wait for a batch to fill before it is written.',
    }),
    prefetch: envVar('PERSIST_PREFETCH', integer(1, 50_000), {
      default: 200,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Unacked persist messages jobs holds at once (each may carry a whole consumer flush, up to 500).',
    }),
    maxStoredPerUser: envVar('MAX_STORED_PER_USER', integer(1), {
      default: 1000,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Read notifications kept per user; older read ones are removed (unread ones never are).',
    }),
    bulkMaxOps: envVar('PERSIST_BULK_MAX_OPS', integer(1, 100_000), {
      default: 90,
      services: ['jobs'],
      level: 'tuning',
      doc: 'Statements per MongoDB bulk command of state updates (a longer list is sent as several commands).',
    }),
    // 'keep-retrying' (shared/amqp/failure-policy.ts) needs a last rung to stay on, so at least one.
    retryLadderRungs: envVar('JOBS_RETRY_LADDER_RUNGS', integer(1, 20), {
      default: 5,
      alias: RETRY_MAX_ATTEMPTS,
      services: 'every',
      level: 'tuning',
      doc: "Rungs of the retry ladder of jobs' writes (persist and ack batches), RETRY_BASE_DELAY_MS·2ⁿ each: a write still failing after the last rung waits on that rung again for as long as the store is down, never dropped.",
      production: same,
    }),
  },
  ws: {
    authTimeoutMs: envVar('AUTH_TIMEOUT_MS', integer(1), {
      default: 5000,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'A socket that has not authenticated within this is closed with 4401.',
    }),
    ackTimeoutMs: envVar('ACK_TIMEOUT_MS', integer(1), {
      default: 10_000,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'A notification not acked within this is sent again.',
    }),
    maxRedeliveries: envVar('MAX_REDELIVERIES', integer(0, 100), {
      default: 5,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Re-sends while connected before waiting for the next connection.',
    }),
    heartbeatIntervalMs: envVar('HEARTBEAT_INTERVAL_MS', integer(1), {
      default: 30_000,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Protocol ping interval; a socket that misses a pong is terminated.',
    }),
    replayLimit: envVar('REPLAY_LIMIT', integer(1, 10_000), {
      default: 500,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Most notifications replayed on AUTH (recovered:false when more remain).',
    }),
    // 64 KiB: a full ACK batch (WS_MAX_ACK_BATCH = 500 ids of up to 64 characters, each with the
    // longest version) is 42,047 bytes and must fit one frame (problemsOf checks it), with room to
    // raise the batch to 779. 16 KiB held only 244 ids, so a client ACKing a 500-notification
    // replay in one frame was closed with 1009 and got the same replay on every reconnect.
    maxFrameBytes: envVar('WS_MAX_FRAME_BYTES', integer(1), {
      default: 64 * 1024,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Largest accepted frame (close 1009 beyond); must hold an ACK of WS_MAX_ACK_BATCH ids of 64 characters with their versions (42047 bytes for 500), the config refuses less.',
    }),
    maxFramesPerSecond: envVar('WS_MAX_FRAMES_PER_SECOND', integer(1), {
      default: 50,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Frames a socket may send per second (close 1008 beyond).',
    }),
    maxSocketsPerUser: envVar('WS_MAX_SOCKETS_PER_USER', integer(1), {
      default: 10,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Sockets one user may hold on one instance.',
    }),
    maxBufferedBytes: envVar('WS_MAX_BUFFERED_BYTES', integer(1), {
      default: 1024 * 1024,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Unsent bytes a socket may queue before it is closed as a slow consumer (1013).',
    }),
    // As large as REPLAY_LIMIT's default, so a client can ACK a whole replay in one frame.
    maxAckBatch: envVar('WS_MAX_ACK_BATCH', integer(1, 10_000), {
      default: 500,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Most ids in one ACK frame (ACK_BATCH_TOO_LARGE beyond); the largest such frame must fit WS_MAX_FRAME_BYTES.',
    }),
    listenBacklogConnections: envVar('WS_LISTEN_BACKLOG_CONNECTIONS', integer(1, 65_535), {
      default: 4096,
      services: ['ws-server'],
      level: 'tuning',
      doc: "Handshakes the kernel queues before the ws-server accepts them (Node's default is 511; a reconnect storm of thousands overflows that and clients wait for TCP retries). The kernel caps it at net.core.somaxconn.",
    }),
    // Room above the 20,000 idle sockets one process is sized for (docs/performance.md), for
    // scrapes and for the overlap of a reconnect storm; ~10 KB each, so about 250 MB at the cap.
    maxConnections: envVar('WS_MAX_CONNECTIONS', integer(1), {
      default: 25_000,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'Open connections (sockets and HTTP) one ws-server process accepts at once; past it a new connection is closed before its handshake, the sockets held keep working (about 10 KB each: 250 MB at the cap).',
      production: 'Within the memory of one instance; scale out rather than up past it.',
    }),
    /** How long an instance stays in a user's wake route without a refresh (ws-server/route.ts). */
    routeTtlMs: envVar('WS_ROUTE_TTL_MS', integer(1000), {
      default: 30_000,
      services: ['ws-server'],
      level: 'tuning',
      doc: "How long a ws-server instance stays in a user's wake route without a refresh: a crashed instance receives (unheard) wakes for at most this long. At least twice WS_ROUTE_REFRESH_MS.",
    }),
    /** How often an instance refreshes the routes of every user it holds (one pipelined write). */
    routeRefreshMs: envVar('WS_ROUTE_REFRESH_MS', integer(100), {
      default: 10_000,
      services: ['ws-server'],
      level: 'tuning',
      doc: 'How often a ws-server refreshes the wake routes of every user it holds (one pipelined write per round); a route that lapsed meanwhile is noticed and its users resynced from the buffer.',
    }),
  },
};

type Declared = Resolved<typeof DECLARATIONS>;

/**
 * What the producer's shutdown grants a POST beyond PUBLISH_CONFIRM_TIMEOUT_MS to write its
 * answer (producer/bootstrap.ts); SHUTDOWN_TIMEOUT_MS must leave room for both.
 */
export const CONFIRM_ANSWER_MARGIN_MS = 1000;

/**
 * The longest the producer waits for Redis on a check it can do without (the per-address rate
 * limit, an Idempotency-Key's check) before going on unchecked: a Redis outage must not take
 * intake or the read API down with it (producer/rate-limit.ts, producer/idempotency.ts).
 */
export const REDIS_FAIL_OPEN_WAIT_MS = 250;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A key travels in a header and is listed with commas: printable ASCII, no space, no comma. */
const KEY_CHARACTERS = /^[\x21-\x2b\x2d-\x7e]+$/;

/**
 * What is wrong with INTAKE_API_KEYS, naming keys by position only: a key, even a rejected one,
 * must never reach a log. `required` is false outside production and for services that do not
 * take events; `keys` is undefined when the variable is unset.
 */
function intakeKeyProblems(keys: string[] | undefined, production: boolean, required: boolean): string[] {
  if (keys !== undefined && keys.length === 0) return ['INTAKE_API_KEYS: is set but holds no key'];
  if (keys === undefined) {
    return required
      ? [
          'INTAKE_API_KEYS: required in production: event intake would accept events from anyone (docs/security.md "Intake API keys" says how to create one)',
        ]
      : [];
  }
  const problems: string[] = [];
  keys.forEach((key, i) => {
    const which = `key ${i + 1} of ${keys.length}`;
    if (!KEY_CHARACTERS.test(key))
      problems.push(`INTAKE_API_KEYS: ${which} has characters other than printable ASCII (no spaces, no commas)`);
    if (!production) return;
    if (key === DEV_INTAKE_API_KEY)
      problems.push(
        `INTAKE_API_KEYS: ${which} is the built-in development key, which is public; create a key of your own`,
      );
    else if (key.length < MIN_INTAKE_API_KEY_LENGTH)
      problems.push(`INTAKE_API_KEYS: ${which} is shorter than ${MIN_INTAKE_API_KEY_LENGTH} characters`);
  });
  return problems;
}

/**
 * Rules across variables, and what production refuses; each problem names its variables.
 * `service`: see loadConfig.
 */
function problemsOf(d: Declared, service: ServiceName | undefined): string[] {
  const problems: string[] = [];
  const production = d.nodeEnv === 'production';
  const which = service ?? d.service ?? 'producer';
  if (d.ws.routeRefreshMs * 2 > d.ws.routeTtlMs) {
    problems.push(
      `WS_ROUTE_REFRESH_MS / WS_ROUTE_TTL_MS: a refresh every ${d.ws.routeRefreshMs} ms leaves no margin in a ${d.ws.routeTtlMs} ms TTL; ` +
        "one late round would let a live instance drop out of its users' wake routes. Keep the TTL at least twice the refresh interval",
    );
  }
  if (which === 'jobs' && d.persist.sweepIntervalMs > 0 && d.persist.sweepAfterMs <= d.persist.delayMs) {
    // Every notification's mark would be older than that while its job still waits in the delay
    // queue: the sweep would send every one twice.
    problems.push('PERSIST_SWEEP_AFTER_MS: must be above PERSIST_DELAY_MS (a job waits that long on purpose)');
  }
  if (d.mongo.queryTimeoutMs >= d.shutdownTimeoutMs) {
    // A request in flight at SIGTERM is waited for: a deadline past the shutdown bound would let it
    // hold the exit. (A batch write is not: jobs hands its batch back after half the bound.)
    problems.push('MONGO_QUERY_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS');
  }
  if (which === 'producer' && d.redis.commandTimeoutMs >= d.shutdownTimeoutMs) {
    // As MONGO_QUERY_TIMEOUT_MS: a request waiting on Redis at SIGTERM must be answered before the exit.
    problems.push('REDIS_COMMAND_TIMEOUT_MS: must be below SHUTDOWN_TIMEOUT_MS on the producer');
  }
  if (which === 'producer' && d.rabbitmq.publishConfirmTimeoutMs + CONFIRM_ANSWER_MARGIN_MS >= d.shutdownTimeoutMs) {
    // The producer's close() answers every POST waiting for a confirm (202, or 503 at the
    // deadline) before its socket closes; a shutdown bound shorter than that wait would cut them.
    problems.push(
      `PUBLISH_CONFIRM_TIMEOUT_MS: must be at least ${CONFIRM_ANSWER_MARGIN_MS} ms below SHUTDOWN_TIMEOUT_MS on the producer`,
    );
  }
  if (production && mongoUrlParts(d.mongo.url)?.database === '') {
    // The driver would quietly use a database named "test" (a hosted template's URL names none).
    problems.push(
      'MONGO_URL: name the database in the path, e.g. mongodb+srv://…/notifications (with ?authSource=admin when the user is defined in admin)',
    );
  }
  if (production && d.auth.jwtSecret === DEV_JWT_SECRET) {
    problems.push('JWT_SECRET: the built-in development secret is public; set a secret of your own');
  }
  // The consumer and jobs verify no token, so they need no secret (an unknown service counts as one that does).
  const verifiesTokens = !['consumer', 'jobs'].includes(which);
  if (
    production &&
    verifiesTokens &&
    d.auth.jwtSecret === undefined &&
    d.auth.publicKey === undefined &&
    d.auth.jwksFile === undefined
  ) {
    problems.push(
      "JWT_SECRET: required in production (it verifies users' tokens) unless JWT_PUBLIC_KEY or JWT_JWKS_FILE is set",
    );
  }
  if (d.http.headersTimeoutMs > d.http.requestTimeoutMs) {
    // Node refuses a headers timeout longer than the whole request's.
    problems.push(
      'HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS: the headers timeout must not exceed the request timeout',
    );
  }
  if (production && d.auth.mode === 'dev') {
    problems.push(
      "WS_AUTH_MODE: dev accepts a bare userId without a token, so anyone could read any user's notifications; production needs token",
    );
  }
  if (production && d.http.corsOrigins?.includes('*')) {
    // producer/cors.ts answers `*` by echoing whatever origin asks, so every website could send
    // requests carrying a user's token (or an intake key) from a browser and read the answers.
    problems.push(
      "CORS_ORIGINS: * lets any website call the API with a user's token and read the answers; list the allowed origins",
    );
  }
  problems.push(...intakeKeyProblems(d.intake.apiKeys, production, production && which === 'producer'));
  const largestAck = ackFrameBytes(d.ws.maxAckBatch);
  if (largestAck > d.ws.maxFrameBytes) {
    problems.push(
      `WS_MAX_ACK_BATCH / WS_MAX_FRAME_BYTES: an ACK of ${d.ws.maxAckBatch} ids of ${MAX_NOTIFICATION_ID_LENGTH} characters with their versions is ` +
        `${largestAck} bytes, more than WS_MAX_FRAME_BYTES=${d.ws.maxFrameBytes}; a client sending the largest allowed ACK ` +
        `would be closed with 1009. Raise WS_MAX_FRAME_BYTES to at least ${largestAck} or lower WS_MAX_ACK_BATCH`,
    );
  }
  return problems;
}

/** The values built from several variables; everything else is the declared tree as read. */
function assemble(
  d: Declared,
  token: { key: TokenRules['key']; algorithms: TokenRules['algorithms'] },
  cluster: RedisClusterSettings | undefined,
  warnings: string[],
) {
  const { corsOrigins, ...http } = d.http;
  const { jwtSecret, issuer, audience, maxLifetimeSeconds, clockToleranceSeconds, mode } = d.auth;
  /** What a token must be to be accepted (shared/auth/key-source.ts, shared/auth/jwt.ts). */
  const rules: TokenRules = {
    key: token.key,
    algorithms: token.algorithms,
    issuer,
    audience,
    maxLifetimeSeconds,
    clockToleranceSeconds,
  };
  return {
    ...d,
    /** `url`: the first node, for tools and tests that open one plain connection. */
    rabbitmq: { ...d.rabbitmq, url: d.rabbitmq.urls[0] ?? 'amqp://guest:guest@127.0.0.1:5672' },
    /** `cluster`: set from REDIS_CLUSTER_NODES, the services open an ioredis Cluster (shared/redis.ts); `url` is then unused. */
    redis: {
      url: d.redis.url,
      keyPrefix: d.redis.keyPrefix,
      commandTimeoutMs: d.redis.commandTimeoutMs,
      pingIntervalMs: d.redis.pingIntervalMs,
      cluster,
    },
    http: {
      ...http,
      /** Browser origins the producer answers with CORS (the ws-server's demo page). */
      cors: { origins: corsOrigins ?? [], allowLocalhost: corsOrigins === undefined && d.nodeEnv !== 'production' },
    },
    auth: {
      mode,
      /**
       * The HS256 secret: verifies tokens when `token.key.kind` is 'secret', and is what seed and
       * tests sign with (with a public key or JWKS configured it verifies nothing).
       */
      jwtSecret: jwtSecret ?? DEV_JWT_SECRET,
      /** Tokens are verified with the built-in development secret (refused in production). */
      jwtSecretIsDefault: jwtSecret === undefined && token.key.kind === 'secret',
      token: rules,
    },
    /**
     * Keys the callers of event intake present as `Authorization: ApiKey <key>` (producer/intake-key.ts).
     * More than one while a key is rotated; empty means intake is open, which production refuses.
     */
    intake: { apiKeys: d.intake.apiKeys ?? [] },
    /** Deprecated variables in use; shared/service.ts logs each at start-up. */
    warnings,
  };
}

/** The typed configuration every service receives: inferred from DECLARATIONS and `assemble`. */
export type Config = ReturnType<typeof assemble>;
export type AuthMode = Config['auth']['mode'];
export type NodeEnv = Config['nodeEnv'];

/**
 * REDIS_CLUSTER_NODES: seed nodes as `host:port` or `redis[s]://[user:password@]host:port`. Every
 * entry that names credentials or TLS must name the same ones (one cluster, one ACL user).
 * Problems name entries by position: an entry may carry a password.
 */
export function parseClusterNodes(raw: string): { settings: RedisClusterSettings } | { problems: string[] } {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
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
    if (!['redis:', 'rediss:'].includes(url.protocol))
      problems.push(`${which}: only redis:// and rediss:// are understood`);
    else if (
      !url.hostname ||
      !Number.isInteger(port) ||
      port < 1 ||
      port > 65535 ||
      (url.pathname !== '' && url.pathname !== '/')
    ) {
      problems.push(`${which} must name a host and a port, and no database (a cluster has only database 0)`);
    } else {
      nodes.push({ host: url.hostname, port });
      auth.add(
        JSON.stringify([
          url.protocol === 'rediss:',
          decodeURIComponent(url.username),
          decodeURIComponent(url.password),
        ]),
      );
    }
  });
  if (auth.size > 1)
    problems.push(
      'REDIS_CLUSTER_NODES: the entries disagree on user, password or TLS; one cluster has one set for every node',
    );
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
  const { values, problems, warnings } = readTree(DECLARATIONS, withoutEmpty(env));
  // A malformed variable makes the rules across variables meaningless: report those first.
  if (problems.length > 0) throw new ConfigError(problems);
  problems.push(...problemsOf(values, service));
  const { persist, pipeline } = values;
  if (
    (service ?? values.service) === 'jobs' &&
    persist.sweepIntervalMs > 0 &&
    persist.sweepAfterMs >= pipeline.bufferTtlSeconds * 1000
  ) {
    warnings.push(
      'PERSIST_SWEEP_AFTER_MS is not below BUFFER_TTL_SECONDS: a buffered copy expires before its mark is old enough, so the persist sweep never hands anything over',
    );
  }
  const cluster = values.redis.clusterNodes === undefined ? undefined : parseClusterNodes(values.redis.clusterNodes);
  if (cluster && 'problems' in cluster) problems.push(...cluster.problems);
  if (cluster && withoutEmpty(env).REDIS_URL !== undefined) {
    problems.push(
      'REDIS_URL / REDIS_CLUSTER_NODES: both are set; a cluster is reached through REDIS_CLUSTER_NODES alone, so unset REDIS_URL',
    );
  }
  if (cluster && /[{}]/.test(values.redis.keyPrefix)) {
    // The hash tag is the first {...} of a key: a brace in the prefix would decide every key's slot
    // (shared/keys.ts), putting a user's keys in different slots or every key in one.
    problems.push(
      'REDIS_KEY_PREFIX: must not contain { or } on a Redis Cluster (braces choose the hash slot; shared/keys.ts)',
    );
  }
  const tokenKey = readKeySource({
    JWT_SECRET: values.auth.jwtSecret,
    JWT_PUBLIC_KEY: values.auth.publicKey,
    JWT_JWKS_FILE: values.auth.jwksFile,
    JWT_ALGORITHMS: values.auth.algorithms,
  });
  if (!tokenKey.ok) problems.push(...tokenKey.problems);
  if (problems.length > 0 || !tokenKey.ok) throw new ConfigError(problems);
  return assemble(values, tokenKey, cluster && 'settings' in cluster ? cluster.settings : undefined, warnings);
}

/** The port a service listens on: Railway's `PORT` wins over the per-service default. */
export function servicePort(config: Config, service: ServiceName): number {
  return config.http.portOverride ?? config.http.ports[service];
}

/** Every declaration, in the order of the docs (scripts/env-docs.ts renders them). */
export function envVarDeclarations(): EnvVar<unknown>[] {
  return flatten(DECLARATIONS);
}

/**
 * Every variable the config reads under a current name (aliases included, deprecated ones not);
 * `.env.example` and docs/configuration.md are checked against it.
 */
export function knownEnvVars(): string[] {
  return envVarDeclarations().flatMap((v) =>
    v.alias && v.alias.deprecated === undefined ? [v.name, v.alias.name] : [v.name],
  );
}

/** Deprecated names still read: why each was retired, and the variables it is read as. */
export function deprecatedEnvVars(): Map<string, { why: string; readAs: string[] }> {
  const names = new Map<string, { why: string; readAs: string[] }>();
  for (const v of envVarDeclarations()) {
    if (v.alias?.deprecated === undefined) continue;
    const seen = names.get(v.alias.name);
    names.set(v.alias.name, { why: v.alias.deprecated, readAs: [...(seen?.readAs ?? []), v.name] });
  }
  return names;
}

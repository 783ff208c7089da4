import { Cluster, Redis as RedisServer, type RedisOptions } from 'ioredis';
import type { Config, RedisClusterSettings } from './config.js';
import { DependencyUnavailableError, errorMessage } from './errors.js';
import { withTimeout } from './lifecycle.js';
import type { Logger } from './logger.js';
import { describeUrl, stripCredentials } from './redact.js';
import { stopLiveness, watchLiveness } from './redis-liveness.js';

/**
 * The client every service holds: one server (`REDIS_URL`) or a Redis Cluster
 * (`REDIS_CLUSTER_NODES`). Both run the same commands; what differs is that on a cluster one
 * command, script, MULTI or pipeline may only name keys of one hash slot. shared/keys.ts tags every
 * key a user's scripts touch with the user, so a script is always one slot; the few reads and
 * writes that span users go through `getMany` or the per-call paths of shared/lua.ts.
 */
export type Redis = RedisServer | Cluster;
/** One connection to one server: a subscriber (`openSubscriber`), or a node of a cluster. */
export type RedisConnection = RedisServer;
export type { Cluster };

/**
 * What names the server or cluster (the command deadline is the caller's, RedisClientOptions),
 * and how often its connections are PINGed (REDIS_PING_INTERVAL_MS; absent: never).
 */
type RedisTarget = {
  redis: Pick<Config['redis'], 'url' | 'keyPrefix' | 'cluster'> & Partial<Pick<Config['redis'], 'pingIntervalMs'>>;
};

/**
 * Each client's PING interval and logger, for the subscribers opened from it (openSubscriber):
 * they are watched like the client (shared/redis-liveness.ts).
 */
const liveness = new WeakMap<Redis, { intervalMs: number; log: Logger }>();

/** Where the client points, without credentials, for logs and errors. */
function describeTarget(config: RedisTarget): string {
  const { cluster } = config.redis;
  if (!cluster) return describeUrl(config.redis.url);
  return `cluster ${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}${cluster.tls ? ' (TLS)' : ''}`;
}

/** What every connection of a cluster needs besides its address: credentials and TLS. */
function nodeOptions(cluster: RedisClusterSettings): RedisOptions {
  return {
    ...(cluster.username === undefined ? {} : { username: cluster.username }),
    ...(cluster.password === undefined ? {} : { password: cluster.password }),
    ...(cluster.tls ? { tls: {} } : {}),
  };
}

export interface RedisClientOptions {
  /**
   * Deadline of every command, from when the client sends it (or queues it while disconnected) to
   * its reply (ioredis `commandTimeout`); past it the command rejects with "Command timed out"
   * (`redisUnavailable`). Auto-pipelining sends a batch only once the previous one is answered,
   * so a command issued behind an unanswered batch waits for that one's deadline first: up to
   * about twice this in all. Without it a command sent to a Redis that accepts connections and never
   * answers waits forever. For clients that serve requests (the producer) and run no blocking
   * command: a BLPOP would time out too. Subscribers opened from the client (openSubscriber)
   * inherit it, which SUBSCRIBE's immediate reply tolerates.
   */
  commandTimeoutMs?: number;
}

/**
 * Opens the client and waits until it is ready. Key names come from shared/keys.ts;
 * REDIS_KEY_PREFIX is applied by ioredis to every command's keys (tests and tenants share one
 * server that way; on a cluster ioredis hashes the prefixed key, which is why the prefix may hold
 * no braces). Reconnects forever after start-up; readiness reports `status !== 'ready'`.
 */
export async function connectRedis(
  config: RedisTarget & Pick<Config, 'connectTimeoutMs'>,
  logger: Logger,
  name = 'main',
  options: RedisClientOptions = {},
): Promise<Redis> {
  const target = describeTarget(config);
  const log = logger.child({ component: 'redis', connection: name });
  let lastFailure = 'no answer yet';
  const common = {
    connectionName: name,
    connectTimeout: config.connectTimeoutMs,
    // Fail commands fast while disconnected so callers can nack and retry through the broker
    // instead of piling up an unbounded offline queue in memory.
    maxRetriesPerRequest: 2,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
  } satisfies RedisOptions;
  const { cluster } = config.redis;
  const redis: Redis = cluster
    ? new Cluster(cluster.nodes, {
        lazyConnect: true,
        keyPrefix: config.redis.keyPrefix,
        // As on one server: commands of one tick leave together, one pipeline per node.
        enableAutoPipelining: true,
        // Every read from the master: a replica may lag behind the write a caller just made (an
        // ACK's mark, a commit), and the pipeline reads its own writes all the time.
        scaleReads: 'master',
        redisOptions: { ...common, ...nodeOptions(cluster) },
        clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
        // A failover moves slots: retry MOVED/TRYAGAIN/CLUSTERDOWN soon, a few times, then the
        // command fails and its caller retries through the broker like any Redis outage.
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 200,
        slotsRefreshTimeout: Math.min(config.connectTimeoutMs, 2000),
        // Connect to each node by the name it was given or announced, not an address ioredis
        // looked up first: TLS checks the certificate against what was connected to, and a
        // managed cluster's certificate names hosts (ElastiCache), so an IP never matches.
        dnsLookup: (address, callback) => callback(null, address),
      })
    : new RedisServer(config.redis.url, {
        ...common,
        lazyConnect: true,
        keyPrefix: config.redis.keyPrefix,
        // Commands issued in the same tick by concurrent handlers (64+ events in flight) leave as
        // one pipeline: one write and one read syscall instead of one pair per command.
        enableAutoPipelining: true,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      });
  redis.on('error', (err) => {
    lastFailure = stripCredentials(errorMessage(err));
    log.debug({ target, err: lastFailure }, 'redis error');
  });
  redis.on('node error', (err: unknown, node: string) =>
    log.debug({ node, err: stripCredentials(errorMessage(err)) }, 'redis cluster node error'),
  );
  redis.on('ready', () => log.info({ target }, 'redis ready'));
  redis.on('end', () => log.debug({ target }, 'redis connection ended'));

  const ready = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  redis.connect().catch(() => undefined);
  try {
    await withTimeout(
      ready,
      config.connectTimeoutMs,
      () =>
        new DependencyUnavailableError(
          `${cluster ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL'}: cannot reach Redis at ${target} within ${config.connectTimeoutMs} ms (${lastFailure})`,
        ),
    );
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  await checkEvictionPolicy(redis, log, Math.min(config.connectTimeoutMs, EVICTION_CHECK_WAIT_MS));
  const pingIntervalMs = config.redis.pingIntervalMs ?? 0;
  if (pingIntervalMs > 0) {
    liveness.set(redis, { intervalMs: pingIntervalMs, log });
    // A Cluster client's node connections are its own (it opens, drops and replaces them as
    // slots move); only a single server's connection is watched.
    if (!(redis instanceof Cluster)) watchLiveness(redis, pingIntervalMs, log);
  }
  return redis;
}

/** Longest start-up waits for INFO before it goes on without knowing the eviction policy. */
const EVICTION_CHECK_WAIT_MS = 2000;

/**
 * What `INFO memory` says of the server's `maxmemory-policy`: `safe` only for `noeviction`.
 * Under any other policy a Redis at its memory limit deletes keys to make room, and this pipeline
 * keeps things there that nothing else holds: eventId and action dedupe marks (an event comes
 * twice), unpersisted marks and buffered notifications not yet in MongoDB (lost), unread
 * counters and idempotency fingerprints. With `noeviction` a full Redis refuses writes instead,
 * which callers see and retry. Undefined when the text names no policy.
 */
export function evictionPolicyOf(info: string): { policy: string; safe: boolean } | undefined {
  const policy = /^maxmemory_policy:(\S+)\s*$/m.exec(info)?.[1];
  return policy === undefined ? undefined : { policy, safe: policy === 'noeviction' };
}

/**
 * Reads each master's eviction policy from `INFO memory` (CONFIG GET may be disabled on a hosted
 * Redis; INFO rarely is) and warns when one is not `noeviction`. Never fails start-up: a server
 * that does not answer in time, or refuses INFO, is named in a warning and the service starts.
 * Returns the policies read, for tests.
 */
export async function checkEvictionPolicy(redis: Redis, log: Logger, waitMs: number): Promise<string[]> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const read = await Promise.all(
    servers.map(async (server) => {
      const node = `${server.options.host ?? '?'}:${server.options.port ?? '?'}`;
      try {
        const info = await withTimeout(
          server.info('memory'),
          waitMs,
          () => new Error(`no answer to INFO within ${waitMs} ms`),
        );
        const found = evictionPolicyOf(info);
        if (!found) {
          log.warn({ node }, 'redis INFO names no maxmemory_policy; cannot tell whether keys may be evicted');
          return [];
        }
        if (found.safe) log.debug({ node, policy: found.policy }, 'redis maxmemory-policy is noeviction');
        else
          log.warn(
            { node, policy: found.policy },
            `redis maxmemory-policy is ${found.policy}, not noeviction: at its memory limit Redis will evict dedupe marks (duplicate notifications), unpersisted marks and buffered notifications (lost notifications); set maxmemory-policy noeviction (docs/deploy.md)`,
          );
        return [found.policy];
      } catch (err) {
        log.warn(
          { node, err: stripCredentials(errorMessage(err)) },
          'redis maxmemory-policy not checked: INFO failed; make sure it is noeviction (docs/deploy.md)',
        );
        return [];
      }
    }),
  );
  return read.flat();
}

/**
 * The one list (the producer's 503s and the consumers' failure policy, shared/dependency-outage.ts,
 * both go by redisUnavailable): ioredis' own words for "Redis is not there or not answering": a
 * command's deadline passed
 * (commandTimeout), the reconnects a command may wait through ran out (maxRetriesPerRequest), the
 * client is closed, or a cluster cannot be reached or has no slot map.
 */
const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const UNAVAILABLE_MESSAGES = [
  'Command timed out',
  'Connection is closed.',
  'Command aborted due to connection close',
  'enableOfflineQueue options is false',
  'None of startup nodes is available',
  'Failed to refresh slots cache',
  'Too many Cluster redirections',
  'Cluster is disconnected',
  'Cluster is disconnecting',
  'Cluster is ended',
  "Cluster isn't ready",
  'Node is disconnected',
  "Stream isn't writeable",
  'Socket timeout',
  'connect ETIMEDOUT',
];
/**
 * Error replies of a server that cannot serve now but will: loading its dataset, a cluster
 * without a quorum or mid-failover, a replica answering a write, a script running too long, or
 * (maxmemory-policy noeviction, docs/deploy.md) out of memory, or short of the replicas
 * min-replicas-to-write asks for (docs/reliability.md).
 */
const UNAVAILABLE_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS|OOM) /;

/**
 * The error as a DependencyUnavailableError when it says Redis is unreachable, hung or cannot
 * serve now (a request then answers 503 with Retry-After, as for MongoDB), else undefined: a
 * script's own error or a wrong command is a bug, not an outage.
 */
export function redisUnavailable(err: unknown): DependencyUnavailableError | undefined {
  if (!(err instanceof Error)) return undefined;
  const unavailable =
    UNAVAILABLE_NAMES.has(err.name) ||
    UNAVAILABLE_MESSAGES.some((m) => err.message.includes(m)) ||
    UNAVAILABLE_REPLY.test(err.message);
  return unavailable
    ? new DependencyUnavailableError(`redis unavailable: ${stripCredentials(err.message)}`, { cause: err })
    : undefined;
}

/** QUIT lets in-flight replies arrive; a dead connection is simply dropped. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (!(redis instanceof Cluster)) stopLiveness(redis);
  if (redis.status === 'end') return;
  try {
    await withTimeout(redis.quit(), 2000, () => new Error('redis quit timed out'));
  } catch {
    redis.disconnect();
  }
}

/**
 * GET of keys that may lie in different hash slots (different users' copies, marks of a persist
 * batch's many users): one MGET on a single server; on a cluster, where one MGET may only name one
 * slot, one GET per key, sent in the same tick so auto-pipelining makes it one pipeline per node.
 */
export async function getMany(redis: Redis, keys: string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  if (!redis.isCluster) return redis.mget(keys);
  return Promise.all(keys.map((key) => redis.get(key)));
}

/**
 * A connection of its own for SUBSCRIBE (a subscribed connection can run nothing else), never
 * auto-pipelined, connected by the caller. It reconnects forever; ioredis re-subscribes its
 * channels after each reconnect and emits 'ready'.
 *
 * On a cluster it is a plain connection to one node: PUBLISH (also from a script) is broadcast to
 * every node of a cluster, so any node hears every wake. Each reconnect tries the next node the
 * main client knows, so a dead node, a failed-over master included, costs one reconnect delay,
 * and the caller's resync-after-reconnect covers the gap.
 * (ioredis' own Cluster#subscribe also moves to another node, but silently: its caller cannot tell
 * that wakes were missed.)
 *
 * It is PINGed as often as the client it was opened from (REDIS_PING_INTERVAL_MS, on a Cluster
 * too), and replaced when a PING goes unanswered (shared/redis-liveness.ts).
 */
export function openSubscriber(redis: Redis, connectionName: string): RedisConnection {
  const sub = plainSubscriber(redis, connectionName);
  const watched = liveness.get(redis);
  // A subscriber never writes, so a dead peer would never show: wakes would just stop.
  if (watched) watchLiveness(sub, watched.intervalMs, watched.log.child({ connection: connectionName }));
  return sub;
}

function plainSubscriber(redis: Redis, connectionName: string): RedisConnection {
  const options = { connectionName, enableAutoPipelining: false, lazyConnect: true } satisfies RedisOptions;
  if (!(redis instanceof Cluster)) return redis.duplicate(options);
  // The nodes the main client knows now, with the address, credentials and TLS it reaches them by.
  const known = () =>
    redis.nodes('all').map(({ options: o }) => ({
      host: o.host,
      port: o.port,
      username: o.username,
      password: o.password,
      tls: o.tls,
    }));
  const nodes = known();
  if (nodes.length === 0) throw new DependencyUnavailableError('redis cluster: no node known to subscribe on');
  let turn = Math.floor(Math.random() * nodes.length);
  const sub: RedisServer = new RedisServer({
    ...nodes[turn]!,
    ...options,
    retryStrategy: (times) => {
      // The connector reads the address from these options at each connect, so the reconnect
      // goes to the next node the main client knows (a failed master drops out of that list).
      const candidates = known();
      const next = candidates.length > 0 ? candidates[++turn % candidates.length]! : undefined;
      if (next) Object.assign(sub.options, next);
      return Math.min(times * 200, 2000);
    },
  });
  return sub;
}

import { consumeTracked } from '../shared/amqp/deliveries.js';
import { eventsQueueList } from '../shared/amqp/topology.js';
import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { requestLog } from '../shared/http/request-log.js';
import { connectionLimits, listen, reportDrops } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll, settleWithin } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import { BackgroundLoads } from '../shared/background.js';
import { preferenceStore } from '../shared/preferences.js';
import type { ServiceHandle } from '../shared/service.js';
import { consumeDueWakes } from './delayed-wake.js';
import { createFanoutHandler } from './fanout-handler.js';
import { createFanoutMetrics } from './fanout-metrics.js';
import { createMessageHandler } from './handle-message.js';
import { createConsumerMetrics } from './metrics.js';
import { PersistHandOff } from './hand-off.js';
import { PERSIST_BATCH_MAX_BYTES } from '../shared/persist-batch.js';
import { keys } from '../shared/keys.js';
import { createUserNames } from './user-names.js';
import { PreferenceCache } from './preference-cache.js';
import { RedisGate } from './redis-gate.js';
import { followPreferenceChanges } from './preference-changes.js';

/**
 * Recipients whose preferences one consumer keeps in memory at most: a few hundred bytes each,
 * so about 10 MB; past it the least recently read go (a miss costs one Redis read).
 */
const PREFERENCE_CACHE_MAX_USERS = 50_000;

/** Between two probes while the consumer holds its events for Redis (consumer/redis-gate.ts). */
const REDIS_PROBE_INTERVAL_MS = 250;

export interface ConsumerService extends ServiceHandle {
  port: number;
  /** The preference-change subscriber's CLIENT SETNAME (none with the cache off): tests cut it by name. */
  preferencesConnectionName: string | undefined;
}

export async function bootstrap(config: Config, logger: Logger): Promise<ConsumerService> {
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('consumer');
  const metrics = createConsumerMetrics(registry);
  const channel = await infra.amqp.createChannel('consumer-events');
  // MongoDB reads behind a Redis miss, off the event's path (shared/background.ts).
  const loads = new BackgroundLoads(logger);
  const fallbackWaitMs = config.mongo.fallbackWaitMs;
  const handOff = new PersistHandOff(channel, infra.amqp.topology, {
    lingerMs: config.persist.handOffLingerMs,
    maxNotifications: config.persist.handOffMaxNotifications,
    maxBytes: PERSIST_BATCH_MAX_BYTES,
  });
  const preferences = new PreferenceCache(
    preferenceStore(infra.models, infra.redis, {
      cacheTtlSeconds: config.pipeline.preferencesCacheTtlSeconds,
      fallbackWaitMs,
      loads,
      onFallback: () => metrics.storeFallbacks.inc({ read: 'preferences' }),
      changesChannel: keys.preferencesChanged(config.redis.keyPrefix),
    }),
    {
      ttlMs: config.pipeline.consumerPreferencesCacheMs,
      maxEntries: PREFERENCE_CACHE_MAX_USERS,
      onLookup: (outcome, count) => metrics.preferenceLookups.inc({ outcome }, count),
    },
  );
  // Before the first event: the cache serves nothing until its subscription is live.
  const preferenceChanges =
    config.pipeline.consumerPreferencesCacheMs > 0
      ? await followPreferenceChanges(infra.redis, config.redis.keyPrefix, preferences, logger)
      : undefined;
  const deps = {
    redis: infra.redis,
    channel,
    topology: infra.amqp.topology,
    names: createUserNames(infra.models, infra.redis, {
      ttlMs: config.pipeline.userNameCacheTtlMs,
      fallbackWaitMs,
      loads,
      onFallback: () => metrics.storeFallbacks.inc({ read: 'name' }),
    }),
    metrics,
    logger,
    commit: {
      keyPrefix: config.redis.keyPrefix,
      eventWindowSeconds: config.pipeline.eventDedupeWindowSeconds,
      actionWindowMs: config.pipeline.actionDedupeWindowMs,
      aggregationWindowMs: config.pipeline.aggregationWindowMs,
      bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
      rateLimitActorPerMinute: config.pipeline.rateLimitActorPerMinute,
      rateLimitRecipientPerMinute: config.pipeline.rateLimitRecipientPerMinute,
      wakeChannelPrefix: keys.wakeChannelPrefix(config.redis.keyPrefix),
    },
    handOff,
    preferences,
    follows: infra.models.Follow,
    chunkSize: config.fanout.chunkSize,
  };
  const gate = new RedisGate(
    infra.redis,
    { maxHoldMs: config.pipeline.consumerRedisOutageHoldMs, probeIntervalMs: REDIS_PROBE_INTERVAL_MS },
    {
      closed: () => {
        metrics.redisGateClosed.set(1);
        logger.warn('redis unavailable: holding the next events until it takes a write');
      },
      opened: (heldMs, ended) => {
        metrics.redisGateClosed.set(0);
        metrics.redisGateHolds.inc({ ended });
        logger.info({ heldMs, ended }, 'redis hold ended; taking events again');
      },
    },
  );
  const handler = createMessageHandler(deps, { maxBatch: config.pipeline.consumerBatchMax, gate });

  // Every consumer's handlers, so close() drains them all before the channels close.
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>): Promise<void> => {
    const tracked = work.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  // One queue on classic, one per category on quorum (highest first), each with its own prefetch:
  // quorum queues have no channel-wide (global) prefetch.
  for (const queue of eventsQueueList(infra.amqp.topology)) {
    const handle = handler.forQueue(queue);
    await consumeTracked(channel, queue, (msg) => track(handle(msg)), {
      prefetch: config.pipeline.consumerPrefetch,
      noAck: false,
    });
  }
  // Fan-out pages on their own channel and prefetch: a long fan-out never occupies the slots
  // direct events need (docs/pipeline.md "Fan-out").
  const fanoutChannel = await infra.amqp.createChannel('consumer-fanout');
  const fanoutHandler = createFanoutHandler({
    ...deps,
    channel: fanoutChannel,
    fanoutMetrics: createFanoutMetrics(registry),
  });
  await consumeTracked(fanoutChannel, infra.amqp.topology.fanoutQueue, (msg) => track(fanoutHandler(msg)), {
    prefetch: config.fanout.prefetch,
    noAck: false,
  });
  // Do-not-disturb wake-ups, due or not, on the same channel (they are few and tiny).
  await consumeDueWakes(channel, infra.amqp.topology, infra.redis, config.redis.keyPrefix, logger, track);
  const http = await listen(
    createOpsApp(infra.checks, registry, requestLog(logger, config)),
    servicePort(config, 'consumer'),
    config.http.host,
    connectionLimits(config, 'consumer'),
  );
  reportDrops(http.server, logger);
  logger.info({ port: http.port }, 'consumer listening');

  const drain = async () => {
    // Unfinished handlers are simply not acked if the bound is hit: the broker redelivers them.
    if (!(await settleWithin(inFlight, config.shutdownTimeoutMs / 2))) {
      logger.warn({ inFlight: inFlight.size }, 'drain timed out; closing with handlers in flight');
    }
  };
  return {
    port: http.port,
    preferencesConnectionName: preferenceChanges?.connectionName,
    close: once(() =>
      runAll([
        () => channel.cancelAll(),
        () => fanoutChannel.cancelAll(),
        // A batch held for Redis runs now: it commits if Redis is back, fails onto the ladder, or,
        // still waiting on Redis when the drain's bound passes, is left unacked for the broker.
        () => gate.release(),
        // The handlers in flight still read preferences and names from MongoDB behind a Redis
        // miss: closed before they finish, a muted user's event would pass on the defaults.
        drain,
        () => loads.close(),
        () => preferenceChanges?.close(),
        () => handOff.close(),
        () => http.close(),
        () => fanoutChannel.close(),
        () => channel.close(),
        () => infra.close(),
      ]),
    ),
  };
}

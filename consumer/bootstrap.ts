import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { listen } from '../shared/http/server.js';
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
import { createRateLimiter } from './rate-limit.js';
import { createUserNames } from './user-names.js';

export interface ConsumerService extends ServiceHandle {
  port: number;
}

export async function bootstrap(config: Config, logger: Logger): Promise<ConsumerService> {
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('consumer');
  const metrics = createConsumerMetrics(registry);
  const channel = await infra.amqp.createChannel('consumer-events');
  // MongoDB reads behind a Redis miss, off the event's path (shared/background.ts).
  const loads = new BackgroundLoads(logger);
  const fallbackWaitMs = config.mongo.fallbackWaitMs;
  const deps = {
    redis: infra.redis,
    channel,
    topology: infra.amqp.topology,
    limiter: createRateLimiter(infra.redis, {
      actorPerMinute: config.pipeline.rateLimitActorPerMinute,
      recipientPerMinute: config.pipeline.rateLimitRecipientPerMinute,
    }),
    names: createUserNames(infra.models, infra.redis, {
      ttlMs: config.pipeline.userNameCacheTtlMs,
      fallbackWaitMs,
      loads,
      onFallback: () => metrics.storeFallbacks.inc({ read: 'name' }),
    }),
    metrics,
    logger,
    windows: {
      eventWindowSeconds: config.pipeline.eventDedupeWindowSeconds,
      actionWindowMs: config.pipeline.actionDedupeWindowMs,
    },
    bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
    aggregationWindowMs: config.pipeline.aggregationWindowMs,
    preferences: preferenceStore(infra.models, infra.redis, {
      cacheTtlSeconds: config.pipeline.preferencesCacheTtlSeconds,
      fallbackWaitMs,
      loads,
      onFallback: () => metrics.storeFallbacks.inc({ read: 'preferences' }),
    }),
    follows: infra.models.Follow,
    chunkSize: config.fanout.chunkSize,
    concurrency: config.fanout.concurrency,
  };
  const handler = createMessageHandler(deps);

  const inFlight = new Set<Promise<void>>();
  await channel.consume(
    infra.amqp.topology.eventsQueue,
    (msg) => {
      const work = handler(msg).finally(() => inFlight.delete(work));
      inFlight.add(work);
      return work;
    },
    { prefetch: config.pipeline.consumerPrefetch, noAck: false },
  );
  // Fan-out pages on their own channel and prefetch: a long fan-out never occupies the slots
  // direct events need (docs/pipeline.md "Fan-out").
  const fanoutChannel = await infra.amqp.createChannel('consumer-fanout');
  const fanoutHandler = createFanoutHandler({ ...deps, channel: fanoutChannel, fanoutMetrics: createFanoutMetrics(registry) });
  await fanoutChannel.consume(
    infra.amqp.topology.fanoutQueue,
    (msg) => {
      const work = fanoutHandler(msg).finally(() => inFlight.delete(work));
      inFlight.add(work);
      return work;
    },
    { prefetch: config.fanout.prefetch, noAck: false },
  );
  // Do-not-disturb wake-ups, due or not, on the same channel (they are few and tiny).
  await consumeDueWakes(channel, infra.amqp.topology, logger, infra.redis);
  const http = await listen(createOpsApp(infra.checks, registry), servicePort(config, 'consumer'), config.http.host);
  logger.info({ port: http.port }, 'consumer listening');

  const drain = async () => {
    // Unfinished handlers are simply not acked if the bound is hit: the broker redelivers them.
    if (!(await settleWithin(inFlight, config.shutdownTimeoutMs / 2))) {
      logger.warn({ inFlight: inFlight.size }, 'drain timed out; closing with handlers in flight');
    }
  };
  return {
    port: http.port,
    close: once(() =>
      runAll([
        () => loads.close(),
        () => channel.cancelAll(),
        () => fanoutChannel.cancelAll(),
        drain,
        () => http.close(),
        () => fanoutChannel.close(),
        () => channel.close(),
        () => infra.close(),
      ]),
    ),
  };
}

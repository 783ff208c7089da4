import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { listen } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll, withTimeout } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';
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
  const handler = createMessageHandler({
    redis: infra.redis,
    channel,
    topology: infra.amqp.topology,
    limiter: createRateLimiter(infra.redis, {
      actorPerMinute: config.pipeline.rateLimitActorPerMinute,
      recipientPerMinute: config.pipeline.rateLimitRecipientPerMinute,
    }),
    names: createUserNames(infra.models, config.pipeline.userNameCacheTtlMs, logger),
    metrics,
    logger,
    windows: {
      eventWindowSeconds: config.pipeline.eventDedupeWindowSeconds,
      actionWindowMs: config.pipeline.actionDedupeWindowMs,
    },
    bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
  });

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
  const http = await listen(createOpsApp(infra.checks, registry), servicePort(config, 'consumer'), config.http.host);
  logger.info({ port: http.port }, 'consumer listening');

  const drain = async () => {
    // Unfinished handlers are simply not acked if the bound is hit: the broker redelivers them.
    await withTimeout(Promise.allSettled([...inFlight]), config.shutdownTimeoutMs / 2, () => new Error('drain timed out')).catch(
      (err: unknown) => logger.warn({ err: String(err), inFlight: inFlight.size }, 'closing with handlers in flight'),
    );
  };
  return {
    port: http.port,
    close: once(() => runAll([() => channel.cancelAll(), drain, () => http.close(), () => channel.close(), () => infra.close()])),
  };
}

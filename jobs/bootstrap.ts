import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { requestLog } from '../shared/http/request-log.js';
import { connectionLimits, listen, reportDrops } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { isMongoReady } from '../shared/mongo.js';
import { once, runAll } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry, type Registry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';
import { startBatchConsumer } from './batch-consumer.js';
import { ackCodec, ackHandler, persistCodec, persistHandler } from './handlers.js';
import { createJobsMetrics } from './metrics.js';
import { startPersistSweep } from './persist-sweep.js';

export interface JobsService extends ServiceHandle {
  port: number;
  registry: Registry;
}

export async function bootstrap(config: Config, logger: Logger): Promise<JobsService> {
  const infra = await connectInfra(config, logger, { mongoRequired: true });
  const registry = createRegistry('jobs');
  const metrics = createJobsMetrics(registry);
  const { topology } = infra.amqp;
  const batching = {
    prefetch: config.persist.prefetch,
    batchSize: config.persist.batchSize,
    flushMs: config.persist.flushMs,
    // Half the shutdown budget: the rest is for closing channels and stores.
    drainTimeoutMs: Math.floor(config.shutdownTimeoutMs / 2),
  };
  const persist = await startBatchConsumer(infra.amqp, logger, {
    name: 'jobs-persist',
    queue: topology.persistQueue,
    ...batching,
    ...persistCodec,
    handle: persistHandler({ redis: infra.redis, models: infra.models, metrics, config }, topology, logger),
  });
  const acks = await startBatchConsumer(infra.amqp, logger, {
    name: 'jobs-acks',
    queue: topology.acksQueue,
    ...batching,
    ...ackCodec,
    handle: ackHandler({ redis: infra.redis, models: infra.models, metrics, config }, topology, logger),
  });
  const sweepChannel = config.persist.sweepIntervalMs > 0 ? await infra.amqp.createChannel('jobs-sweep') : undefined;
  const sweep =
    sweepChannel !== undefined
      ? startPersistSweep(
          {
            redis: infra.redis,
            channel: sweepChannel,
            topology,
            metrics,
            logger: logger.child({ component: 'persist-sweep' }),
            settings: {
              keyPrefix: config.redis.keyPrefix,
              bufferTtlSeconds: config.pipeline.bufferTtlSeconds,
              afterMs: config.persist.sweepAfterMs,
              maxNotificationsPerMessage: config.persist.batchSize,
            },
          },
          config.persist.sweepIntervalMs,
          () => isMongoReady(infra.mongo),
        )
      : undefined;
  const http = await listen(
    createOpsApp(infra.checks, registry, requestLog(logger, config)),
    servicePort(config, 'jobs'),
    config.http.host,
    connectionLimits(config, 'jobs'),
  );
  reportDrops(http.server, logger);
  logger.info({ port: http.port }, 'jobs listening');
  return {
    port: http.port,
    registry,
    // Intake stops first, the batches already taken are written, the stores close last.
    close: once(() =>
      runAll([
        () => Promise.all([persist.stop(), acks.stop(), sweep?.stop()]),
        () => sweepChannel?.close(),
        () => http.close(),
        () => infra.close(),
      ]),
    ),
  };
}

import { createTokenVerifier } from '../shared/auth/jwt.js';
import { CONFIRM_ANSWER_MARGIN_MS, servicePort, type Config } from '../shared/config.js';
import { connectionLimits, listen, reportDrops } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';
import { createRequestListener } from './app.js';
import { createProducerMetrics } from './metrics.js';
import { createEventPublisher } from './publisher.js';

export interface ProducerService extends ServiceHandle {
  port: number;
}

export async function bootstrap(config: Config, logger: Logger): Promise<ProducerService> {
  const tokens = await createTokenVerifier(config.auth);
  // A command deadline: a request must get an answer (503) from a Redis that stopped answering,
  // and nothing the producer sends blocks (it subscribes to nothing).
  const infra = await connectInfra(config, logger, {
    mongoRequired: false,
    redis: { commandTimeoutMs: config.redis.commandTimeoutMs },
  });
  const registry = createRegistry('producer');
  const channel = await infra.amqp.createChannel('producer-events');
  const publisher = createEventPublisher(infra.amqp, channel, config.rabbitmq.publishConfirmTimeoutMs);
  const metrics = createProducerMetrics(registry);
  const app = createRequestListener({ config, tokens, logger, infra, registry, metrics, publisher });
  const http = await listen(
    app,
    servicePort(config, 'producer'),
    config.http.host,
    connectionLimits(config, 'producer'),
  );
  reportDrops(http.server, logger);
  logger.info({ port: http.port }, 'producer listening');
  return {
    port: http.port,
    // In-flight requests finish (and get their confirms) before the channel closes: closing it
    // rejects a publish still waiting ("Channel closed") although the broker may hold the message.
    // A publish waits up to PUBLISH_CONFIRM_TIMEOUT_MS, so the grace covers that and the 503
    // (the config refuses a SHUTDOWN_TIMEOUT_MS that leaves no room for it).
    close: once(() =>
      runAll([
        () => http.close(config.rabbitmq.publishConfirmTimeoutMs + CONFIRM_ANSWER_MARGIN_MS),
        () => channel.close(),
        () => infra.close(),
      ]),
    ),
  };
}

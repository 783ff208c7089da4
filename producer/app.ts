import type { RequestListener } from 'node:http';
import express, { type Express } from 'express';
import type { TokenVerifier } from '../shared/auth/jwt.js';
import { REDIS_FAIL_OPEN_WAIT_MS, type Config } from '../shared/config.js';
import { mountOps } from '../shared/http/ops.js';
import { accessLog, requestLog } from '../shared/http/request-log.js';
import type { Infra } from '../shared/infra.js';
import type { Logger } from '../shared/logger.js';
import type { Registry } from '../shared/metrics.js';
import type { AcceptDeps } from './accept-event.js';
import { cors } from './cors.js';
import { errorHandler, HttpError } from './http-errors.js';
import { methodNotAllowed } from './method-not-allowed.js';
import type { ProducerMetrics } from './metrics.js';
import { openApiRouter } from './openapi/router.js';
import type { EventPublisher } from './publisher.js';
import { demoDataRouter } from './routes/demo-data.js';
import { eventsRouter } from './routes/events.js';
import { followsRouter } from './routes/follows.js';
import { idempotencyCheck } from './idempotency.js';
import { withIntakeFastPath } from './intake-fast-path.js';
import { IntakeKeys, presentsIntakeKey, requireIntakeKey, warnIfIntakeOpen } from './intake-key.js';
import { unreadSignal } from './notifications/unread-signal.js';
import { notificationsRouter } from './routes/notifications.js';
import { preferencesRouter } from './routes/preferences.js';
import { rateLimit } from './rate-limit.js';
import { BackgroundLoads } from '../shared/background.js';
import { preferenceStore } from '../shared/preferences.js';
import { keys } from '../shared/keys.js';

/** Everything the producer's routers need; built once by bootstrap, passed to createApp. */
export interface ProducerDeps {
  config: Config;
  /** Verifies the read API's bearer tokens; built once by bootstrap from config.auth.token. */
  tokens: TokenVerifier;
  logger: Logger;
  infra: Infra;
  registry: Registry;
  metrics: ProducerMetrics;
  publisher: EventPublisher;
}

/**
 * The producer's request listener: a backend's POST /events on the fast path
 * (producer/intake-fast-path.ts), everything else through the Express app.
 */
export function createRequestListener(deps: ProducerDeps): RequestListener {
  const intakeKeys = new IntakeKeys(deps.config.intake.apiKeys);
  const accept = acceptDepsOf(deps);
  const app = createApp(deps, intakeKeys, accept);
  return withIntakeFastPath(
    {
      ...accept,
      keys: intakeKeys,
      maxBodyBytes: deps.config.http.maxBodyBytes,
      logger: deps.logger,
      accessLog: accessLog(deps.logger, deps.config),
      trustProxyHops: deps.config.http.trustProxyHops,
    },
    app,
  );
}

/** What every route that publishes events needs: the fast path, the events and follows routers alike. */
function acceptDepsOf(deps: ProducerDeps): AcceptDeps {
  const { config, logger, infra, metrics, publisher } = deps;
  return {
    publisher,
    metrics,
    retryAfterSeconds: config.http.retryAfterSeconds,
    logger,
    idempotency: idempotencyCheck(infra.redis, {
      windowSeconds: config.pipeline.eventDedupeWindowSeconds,
      waitMs: REDIS_FAIL_OPEN_WAIT_MS,
      logger,
      metrics,
    }),
  };
}

export function createApp(
  deps: ProducerDeps,
  intakeKeys = new IntakeKeys(deps.config.intake.apiKeys),
  accept = acceptDepsOf(deps),
): Express {
  const { config, tokens, logger, infra, registry, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Behind Railway's proxy the socket's address is the proxy's: req.ip must come from X-Forwarded-For.
  if (config.http.trustProxyHops > 0) app.set('trust proxy', config.http.trustProxyHops);
  // First: every answer, a preflight or a 404 included, carries its X-Request-Id and is logged.
  app.use(requestLog(logger, config));
  app.use(cors(config));
  mountOps(app, infra.checks, registry);

  // Writes that notify other users take the backend's API key; reads take the user's token.
  warnIfIntakeOpen(intakeKeys, logger);
  const intakeKey = requireIntakeKey(intakeKeys);
  // After the ops routes (never limited) and CORS (so a browser can read the 429).
  app.use(
    rateLimit(config, {
      redis: infra.redis,
      logger,
      metrics,
      isTrustedCaller: (req) => presentsIntakeKey(intakeKeys, req),
    }),
  );
  // Before the routers: a served path with another method is a 405 (Swagger UI's handler would
  // otherwise answer any method on /docs).
  app.use(methodNotAllowed(app));

  // Routers, one per concern.
  app.use(
    eventsRouter(
      accept,
      {
        maxBodyBytes: config.http.maxBodyBytes,
        batchMaxBodyBytes: config.http.batchMaxBodyBytes,
        batchMaxEvents: config.pipeline.batchMaxEvents,
      },
      intakeKey,
    ),
  );
  app.use(demoDataRouter(infra.models));
  app.use(openApiRouter());
  // The API may wait on MongoDB (with its deadline): its reads go through readOrLoad.
  const preferences = preferenceStore(infra.models, infra.redis, {
    cacheTtlSeconds: config.pipeline.preferencesCacheTtlSeconds,
    fallbackWaitMs: config.mongo.fallbackWaitMs,
    loads: new BackgroundLoads(logger),
    changesChannel: keys.preferencesChanged(config.redis.keyPrefix),
  });
  app.use(preferencesRouter({ config, tokens, store: preferences }));
  app.use(
    notificationsRouter({
      config,
      tokens,
      models: infra.models,
      redis: infra.redis,
      unreadChanged: unreadSignal(infra.redis, config.redis.keyPrefix, logger),
    }),
  );
  app.use(
    followsRouter({
      config,
      tokens,
      models: infra.models,
      intakeKey,
      accept,
    }),
  );

  app.use((_req, _res, next) => next(new HttpError(404, 'not_found', 'no such route')));
  app.use(errorHandler(logger, metrics, config.http.retryAfterSeconds));
  return app;
}

import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  isReady(): boolean;
  /**
   * Down means degraded, not unready: the service still does its main work without it (the live
   * path never waits on MongoDB), so a load balancer must keep sending it traffic. Default false.
   */
  optional?: boolean;
}

/**
 * Every service exposes the same three endpoints: `/healthz` says the process is alive (never
 * depends on brokers, so an orchestrator does not restart a healthy process during an outage),
 * `/readyz` says every dependency it cannot work without is connected right now (an optional
 * one that is down makes it 200 "degraded"), `/metrics` is Prometheus text.
 */
export function mountOps(app: Express, checks: ReadinessCheck[], registry: Registry): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const results = Object.fromEntries(checks.map((c) => [c.name, c.isReady() ? 'up' : 'down']));
    const ready = checks.every((c) => c.optional === true || results[c.name] === 'up');
    const degraded = ready && Object.values(results).some((s) => s === 'down');
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? (degraded ? 'degraded' : 'ready') : 'not ready', checks: results });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
}

/**
 * An Express app with only the ops endpoints, for services that serve nothing else (the
 * ws-server adds its demo page). `requestLog` (shared/http/request-log.ts) comes first, so every
 * answer carries an X-Request-Id and gets its access-log line.
 */
export function createOpsApp(checks: ReadinessCheck[], registry: Registry, requestLog: RequestHandler): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLog);
  mountOps(app, checks, registry);
  return app;
}

import express from 'express';
import { servicePort, type Config } from '../shared/config.js';
import { mountOps } from '../shared/http/ops.js';
import { listen } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';

export interface ProducerService extends ServiceHandle {
  port: number;
}

export async function bootstrap(config: Config, logger: Logger): Promise<ProducerService> {
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('producer');
  const app = express();
  app.disable('x-powered-by');
  mountOps(app, infra.checks, registry);
  const http = await listen(app, servicePort(config, 'producer'), config.http.host);
  logger.info({ port: http.port }, 'producer listening');
  return {
    port: http.port,
    close: once(() => runAll([() => http.close(), () => infra.close()])),
  };
}

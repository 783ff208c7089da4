import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { listen } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';

export interface JobsService extends ServiceHandle {
  port: number;
}

export async function bootstrap(config: Config, logger: Logger): Promise<JobsService> {
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('jobs');
  const http = await listen(createOpsApp(infra.checks, registry), servicePort(config, 'jobs'), config.http.host);
  logger.info({ port: http.port }, 'jobs listening');
  return {
    port: http.port,
    close: once(() => runAll([() => http.close(), () => infra.close()])),
  };
}

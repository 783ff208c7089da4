import { servicePort, type Config } from '../shared/config.js';
import { createOpsApp } from '../shared/http/ops.js';
import { listen } from '../shared/http/server.js';
import { connectInfra } from '../shared/infra.js';
import { once, runAll } from '../shared/lifecycle.js';
import type { Logger } from '../shared/logger.js';
import { createRegistry } from '../shared/metrics.js';
import type { ServiceHandle } from '../shared/service.js';

export interface ConsumerService extends ServiceHandle {
  port: number;
}

export async function bootstrap(config: Config, logger: Logger): Promise<ConsumerService> {
  const infra = await connectInfra(config, logger);
  const registry = createRegistry('consumer');
  const http = await listen(createOpsApp(infra.checks, registry), servicePort(config, 'consumer'), config.http.host);
  logger.info({ port: http.port }, 'consumer listening');
  return {
    port: http.port,
    close: once(() => runAll([() => http.close(), () => infra.close()])),
  };
}

import type { Config } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';

export const testLogger = createLogger(
  { log: { level: (process.env.TEST_LOG_LEVEL ?? 'silent') as Config['log']['level'], pretty: false } },
  'test',
);

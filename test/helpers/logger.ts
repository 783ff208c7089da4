import { createLogger } from '../../shared/logger.js';

export const testLogger = createLogger(
  { log: { level: process.env.TEST_LOG_LEVEL ?? 'silent', pretty: false } },
  'test',
);

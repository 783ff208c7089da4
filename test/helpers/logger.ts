import type { Config } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/logger.js';

export const testLogger = createLogger(
  { log: { level: (process.env.TEST_LOG_LEVEL ?? 'silent') as Config['log']['level'], pretty: false } },
  'test',
);

export interface CapturedLog {
  logger: Logger;
  /** Every line written so far, as written (JSON text, redaction applied). */
  text(): string;
  /** The lines parsed. */
  lines(): Array<Record<string, unknown>>;
}

/** A logger built exactly as a service's (shared/logger.ts) whose lines a test can read. */
export function capturedLog(level = 'debug', service = 'test'): CapturedLog {
  const written: string[] = [];
  const logger = createLogger({ log: { level: level as Config['log']['level'], pretty: false } }, service, {
    write: (line: string) => void written.push(line),
  });
  return {
    logger,
    text: () => written.join(''),
    lines: () => written.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

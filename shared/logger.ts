import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/**
 * Whether pino can load pino-pretty from here: pino resolves a transport from the module that
 * calls it, which is this one. It is a dev dependency, so the production image (`npm ci
 * --omit=dev`) lacks it, and pino would throw at start-up.
 */
function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * JSON logs for machines; pretty output only when LOG_PRETTY asks for it (the dev runner).
 * Known secret-bearing fields are redacted so a careless `log.info({ req })` cannot leak them.
 * LOG_PRETTY without pino-pretty installed logs JSON and says so once, rather than refusing to
 * start: the output format is a convenience, and JSON is what a deployment's log store wants.
 * `destination` (stdout when omitted; given, LOG_PRETTY does not apply) lets a test read the lines
 * exactly as they would be written, redaction included.
 */
export function createLogger(
  config: { log: Pick<Config['log'], 'level' | 'pretty'> },
  service: string,
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    name: service,
    level: config.log.level,
    base: { service },
    redact: {
      paths: [
        'token',
        '*.token',
        'password',
        '*.password',
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        'jwtSecret',
        '*.jwtSecret',
        'apiKeys',
        '*.apiKeys',
        'intakeApiKey',
      ],
      censor: '[redacted]',
    },
  };
  if (destination !== undefined) return pino(options, destination);
  if (config.log.pretty && prettyInstalled()) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true } } });
  }
  const logger = pino(options);
  if (config.log.pretty) {
    logger.warn('LOG_PRETTY=true, but pino-pretty (a development dependency) is not installed: logging JSON');
  }
  return logger;
}

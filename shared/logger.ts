import { pino, type Logger, type LoggerOptions } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/**
 * JSON logs for machines; pretty output only when LOG_PRETTY asks for it (the dev runner).
 * Known secret-bearing fields are redacted so a careless `log.info({ req })` cannot leak them.
 */
export function createLogger(config: Pick<Config, 'log'>, service: string): Logger {
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
  if (config.log.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true } } });
  }
  return pino(options);
}

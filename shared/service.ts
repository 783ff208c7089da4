import { loadConfig, type Config, type ServiceName } from './config.js';
import { errorMessage } from './errors.js';
import { withTimeout } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { stripCredentials } from './redact.js';

export interface ServiceHandle {
  /** Idempotent: stop intake, drain in-flight work, close channels, close stores last. */
  close(): Promise<void>;
}

export type Bootstrap = (config: Config, logger: Logger) => Promise<ServiceHandle>;

/**
 * Process wiring shared by every `main.ts`: config, logger, bootstrap, signals. A bootstrap
 * failure (bad config, unreachable dependency) exits 1 with one readable line, never a retry
 * loop; SIGTERM/SIGINT close the service and exit 0, or 1 if closing exceeds its bound.
 */
export async function runService(name: ServiceName, bootstrap: Bootstrap): Promise<void> {
  let config: Config;
  try {
    // Undefined env: the process environment (config.ts is the one place that reads it).
    config = loadConfig(undefined, name);
  } catch (err) {
    process.stderr.write(`${name}: ${errorMessage(err)}\n`);
    process.exit(1);
  }
  const logger = createLogger(config, name);
  for (const warning of config.warnings) logger.warn(warning);
  if (config.auth.jwtSecretIsDefault && config.nodeEnv !== 'production') {
    logger.warn('JWT_SECRET is not set: using the built-in development secret (refused in production)');
  }

  let handle: ServiceHandle;
  try {
    handle = await bootstrap(config, logger);
  } catch (err) {
    const message = stripCredentials(errorMessage(err));
    logger.fatal({ err: message }, `${name} failed to start: ${message}`);
    logger.flush();
    process.stderr.write(`${name}: failed to start: ${message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} shutting down`);
    withTimeout(handle.close(), config.shutdownTimeoutMs, () => new Error('shutdown timed out'))
      .then(() => {
        logger.info(`${name} stopped`);
        logger.flush();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err: errorMessage(err) }, `${name} did not shut down cleanly`);
        logger.flush();
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

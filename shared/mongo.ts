import mongoose, { type Connection } from 'mongoose';
import type { Config } from './config.js';
import { DependencyUnavailableError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { describeUrl, stripCredentials } from './redact.js';

export type { Connection } from 'mongoose';

/**
 * A dedicated mongoose connection per service instance (not the global default), so two
 * bootstraps in one test process stay independent. Plain MongoDB features only: production
 * runs on Atlas, local development and CI on FerretDB.
 */
export async function connectMongo(
  config: Pick<Config, 'mongo' | 'connectTimeoutMs'>,
  logger: Logger,
): Promise<Connection> {
  const target = describeUrl(config.mongo.url);
  const log = logger.child({ component: 'mongo' });
  const connection = mongoose.createConnection(config.mongo.url, {
    serverSelectionTimeoutMS: config.connectTimeoutMs,
    connectTimeoutMS: config.connectTimeoutMs,
    // Indexes are built explicitly by ensureIndexes() at start-up, so a failure is visible there.
    autoIndex: false,
    autoCreate: true,
  });
  connection.on('disconnected', () => log.warn({ target }, 'mongodb disconnected'));
  connection.on('reconnected', () => log.info({ target }, 'mongodb reconnected'));
  // Without a listener, a driver error event would crash the process.
  connection.on('error', (err: unknown) => log.warn({ target, err: stripCredentials(errorMessage(err)) }, 'mongodb error'));
  try {
    await connection.asPromise();
  } catch (err) {
    await connection.close(true).catch(() => undefined);
    throw new DependencyUnavailableError(
      `MONGO_URL: cannot reach MongoDB at ${target} within ${config.connectTimeoutMs} ms (${stripCredentials(errorMessage(err))})`,
    );
  }
  log.info({ target, db: connection.name }, 'mongodb connected');
  return connection;
}

export function isMongoReady(connection: Connection): boolean {
  return connection.readyState === mongoose.ConnectionStates.connected;
}

import mongoose, { mongo, type Connection } from 'mongoose';
import type { Config } from './config.js';
import { DependencyUnavailableError, errorMessage } from './errors.js';
import { withTimeout } from './lifecycle.js';
import type { Logger } from './logger.js';
import { describeUrl, stripCredentials } from './redact.js';

export type { Connection } from 'mongoose';

/**
 * How long close() waits for the driver's goodbye (endSessions) before giving up on it. A
 * healthy server answers in milliseconds; a hung one would hold the close for the driver's
 * connect timeout (CONNECT_TIMEOUT_MS), past SHUTDOWN_TIMEOUT_MS.
 */
const CLOSE_GRACE_MS = 1000;

/**
 * Between a failed connect and the next one, when start-up does not wait for MongoDB. Each attempt
 * itself takes up to CONNECT_TIMEOUT_MS against a host that does not answer.
 */
const RECONNECT_DELAY_MS = 1000;

/** Stops the background connecting of a connection start-up did not wait for (connectMongo). */
const backgroundConnects = new WeakMap<Connection, () => void>();

export interface MongoConnectOptions {
  /**
   * Whether start-up waits for MongoDB and fails after CONNECT_TIMEOUT_MS without it (jobs, and
   * tools). The other services do not: their live path never touches MongoDB, so they start at
   * once and the driver keeps connecting in the background; until it does, every operation
   * fails at once with an error mongoUnavailable() recognises (bufferCommands is off), which
   * their reads already answer with a fallback or a 503.
   */
  wait: boolean;
}

/**
 * A dedicated mongoose connection per service instance (not the global default), so two
 * bootstraps in one test process stay independent. Plain MongoDB features only: production
 * runs on Atlas, local development and CI on FerretDB.
 *
 * Every operation of the connection has a deadline, MONGO_QUERY_TIMEOUT_MS: the driver's
 * client-side operation timeout (`timeoutMS`) bounds server selection, connection checkout and
 * the socket read together, and sends the remaining time to the server as `maxTimeMS`, so a slow
 * query stops on the server too (FerretDB 1.24 honours it for find, aggregate and findAndModify
 * only: its writes run to the end after the client gave up). A timed-out operation rejects with an
 * error `mongoUnavailable` turns into a DependencyUnavailableError. (Index builds are the
 * exception: shared/models/index.ts gives them no deadline.)
 */
export async function connectMongo(
  config: Pick<Config, 'mongo' | 'connectTimeoutMs'>,
  logger: Logger,
  { wait }: MongoConnectOptions = { wait: true },
): Promise<Connection> {
  const target = describeUrl(config.mongo.url);
  const log = logger.child({ component: 'mongo' });
  const connection = mongoose.createConnection(config.mongo.url, connectionOptions(config));
  // Before the first connect, a failed attempt is reported once by start-up (the error it throws,
  // or keepConnecting's warning), not as a disconnect and an error every attempt.
  let connectedOnce = false;
  connection.once('open', () => (connectedOnce = true));
  connection.on('disconnected', () => {
    if (connectedOnce) log.warn({ target }, 'mongodb disconnected');
  });
  connection.on('reconnected', () => log.info({ target }, 'mongodb reconnected'));
  // Without a listener, a driver error event would crash the process.
  connection.on('error', (err: unknown) =>
    log[connectedOnce ? 'warn' : 'debug']({ target, err: stripCredentials(errorMessage(err)) }, 'mongodb error'),
  );
  if (!wait) {
    keepConnecting(connection, config, log, target);
    return connection;
  }
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

/**
 * The services' connection options (exported for tests that need the same connection with command
 * monitoring on). A fresh object per connect: mongoose deletes its own keys (autoIndex,
 * bufferCommands...) from the options it is given.
 */
export function connectionOptions(config: Pick<Config, 'mongo' | 'connectTimeoutMs'>): mongoose.ConnectOptions {
  return {
    // The initial connect ignores timeoutMS (driver 6), so start-up keeps CONNECT_TIMEOUT_MS;
    // operations take the smaller of these and timeoutMS.
    serverSelectionTimeoutMS: config.connectTimeoutMs,
    connectTimeoutMS: config.connectTimeoutMs,
    timeoutMS: config.mongo.queryTimeoutMs,
    // The driver's default is 100 per process. Operations a deadline gave up on may still run on
    // the server, and a retry adds its own: a small pool bounds what one process can pile onto a
    // struggling store. Atlas also counts connections against the cluster tier's limit. (It did
    // not stop FerretDB 1.24 from wedging its PostgreSQL pool: that took its update command's
    // shape, docs/persistence.md "FerretDB waits forever for a connection".)
    maxPoolSize: config.mongo.maxPoolSize,
    // Mongoose would otherwise queue operations while disconnected for 10 s, past the deadline:
    // the driver's own server selection (bounded by timeoutMS) is the only wait. Before the first
    // connect, an operation fails at once ("before initial connection").
    bufferCommands: false,
    // Indexes are built explicitly by ensureIndexes() (shared/infra.ts), so a failure is logged.
    autoIndex: false,
    // Not at model compile time under a query's deadline: ensureIndexes() creates the collections
    // with their indexes, and an insert creates any other.
    autoCreate: false,
  };
}

/**
 * The driver gives up for good when its first connect fails (it closes its topology), so a
 * connection start-up did not wait for is opened again, RECONNECT_DELAY_MS after each failure,
 * until it connects or closeMongo() stops it. Once connected, the driver itself heals later
 * outages. The first failure is a warning with its error; the later ones are logged at debug
 * (the connection's 'error' listener), one per attempt.
 */
function keepConnecting(
  connection: Connection,
  config: Pick<Config, 'mongo' | 'connectTimeoutMs'>,
  log: Logger,
  target: string,
): void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  const attempt = (opening: Promise<unknown>) =>
    opening.then(
      () => {
        if (stopped) return;
        log.info({ target, db: connection.name, failedAttempts: failures }, 'mongodb connected');
      },
      (err: unknown) => {
        if (stopped) return;
        failures += 1;
        if (failures === 1) {
          log.warn(
            { target, err: stripCredentials(errorMessage(err)), retryMs: RECONNECT_DELAY_MS },
            'mongodb not reachable at start-up: starting without it (reads fall back, /readyz says degraded) and connecting in the background',
          );
        }
        timer = setTimeout(() => {
          if (!stopped) attempt(connection.openUri(config.mongo.url, connectionOptions(config)));
        }, RECONNECT_DELAY_MS);
      },
    );
  attempt(connection.asPromise());
  backgroundConnects.set(connection, () => {
    stopped = true;
    clearTimeout(timer);
  });
}

export function isMongoReady(connection: Connection): boolean {
  return connection.readyState === mongoose.ConnectionStates.connected;
}

/** MaxTimeMSExpired: the server stopped the operation at its maxTimeMS. */
const MAX_TIME_MS_EXPIRED = 50;

function isUnavailable(err: unknown): boolean {
  return (
    err instanceof mongo.MongoOperationTimeoutError ||
    err instanceof mongo.MongoServerSelectionError ||
    err instanceof mongo.MongoNetworkError ||
    err instanceof mongo.MongoTopologyClosedError ||
    err instanceof mongo.MongoNotConnectedError ||
    (err instanceof mongo.MongoServerError && err.code === MAX_TIME_MS_EXPIRED) ||
    // Mongoose refuses operations on a connection that was force-closed (shutdown) or not open.
    (err instanceof mongoose.Error && /force closed|before initial connection/.test(err.message))
  );
}

/**
 * The typed form of "MongoDB did not answer in time or cannot be reached", or undefined for any
 * other error (a duplicate key, a validation error: not the database's availability). A bulk
 * write reports its command's failure in `errorResponse`, so that is looked at too.
 */
export function mongoUnavailable(err: unknown): DependencyUnavailableError | undefined {
  if (err instanceof DependencyUnavailableError) return err;
  const inner = err instanceof mongo.MongoBulkWriteError ? (err.errorResponse as unknown) : undefined;
  if (!isUnavailable(err) && !isUnavailable(inner)) return undefined;
  return new DependencyUnavailableError(`mongodb unavailable: ${stripCredentials(errorMessage(err))}`, { cause: err });
}

/**
 * Closes the connection without waiting on a hung server: operations still in flight are
 * failed at once (force), and the driver's goodbye to the server gets CLOSE_GRACE_MS. Callers
 * drain their own work first, so nothing that matters is still running here.
 */
export async function closeMongo(connection: Connection, logger: Logger): Promise<void> {
  backgroundConnects.get(connection)?.();
  const closing = connection.close(true);
  try {
    await withTimeout(closing, CLOSE_GRACE_MS, () => new Error(`mongodb did not close within ${CLOSE_GRACE_MS} ms`));
  } catch (err) {
    // The close goes on in the background; the process may exit before it ends.
    closing.catch(() => undefined);
    logger.warn({ component: 'mongo', err: errorMessage(err) }, 'mongodb close abandoned');
  }
}

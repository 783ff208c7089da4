import type { Connection } from 'mongoose';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { ensureIndexes, type Models } from './models/index.js';
import { isMongoReady, mongoUnavailable } from './mongo.js';
import { stripCredentials } from './redact.js';

export interface IndexBuildOptions {
  /** The deadline of each collection's creation (CONNECT_TIMEOUT_MS); the index builds have none. */
  createTimeoutMs: number;
  /**
   * After a failure for want of MongoDB (a network error, a failover), try again this much later;
   * undefined: one attempt. Any other failure (an index that conflicts with one the store has,
   * duplicates under a new unique index) needs a person and is not retried.
   */
  retryDelayMs: number | undefined;
}

export interface IndexBuild {
  /** Settles when the build succeeded, gave up or was stopped; never rejects. */
  readonly settled: Promise<void>;
  stop(): void;
}

/**
 * Builds the collections and indexes (ensureIndexes) in the background, once the connection is
 * open: no service waits for it. A release that adds an index to a large collection (on Atlas,
 * minutes) starts at once and serves meanwhile with the indexes it had; jobs' inserts need none
 * of them (the only uniqueness they rely on is `_id`'s, which every collection has). Success and
 * failure are logged, with how long the build took.
 */
export function startIndexBuild(
  connection: Connection,
  m: Models,
  options: IndexBuildOptions,
  logger: Logger,
): IndexBuild {
  const log = logger.child({ component: 'mongo-indexes' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveSettled!: () => void;
  const settled = new Promise<void>((resolve) => (resolveSettled = resolve));
  const onOpen = () => attempt(1);

  const attempt = (n: number) => {
    if (stopped) return;
    const startedMs = Date.now();
    ensureIndexes(m, options.createTimeoutMs).then(
      () => {
        log.info({ ms: Date.now() - startedMs, attempt: n }, 'mongodb collections and indexes ensured');
        resolveSettled();
      },
      (err: unknown) => {
        if (stopped) return;
        const retry = options.retryDelayMs !== undefined && mongoUnavailable(err) !== undefined;
        log.warn(
          {
            err: stripCredentials(errorMessage(err)),
            ms: Date.now() - startedMs,
            attempt: n,
            ...(retry ? { retryMs: options.retryDelayMs } : {}),
          },
          retry
            ? 'mongodb index build failed; trying again'
            : options.retryDelayMs === undefined
              ? 'mongodb index build failed; jobs builds them at its start'
              : 'mongodb index build failed and is not retried: fix the cause and restart jobs',
        );
        if (!retry) return resolveSettled();
        timer = setTimeout(() => attempt(n + 1), options.retryDelayMs);
      },
    );
  };

  // A connection start-up did not wait for (shared/mongo.ts) opens later, or never.
  if (isMongoReady(connection)) attempt(1);
  else connection.once('open', onOpen);

  return {
    settled,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      connection.off('open', onOpen);
      resolveSettled();
    },
  };
}

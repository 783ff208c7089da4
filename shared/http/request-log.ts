import type { RequestHandler, Response } from 'express';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { requestIdFrom } from '../request-id.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Scraped every few seconds: at `debug`, so they do not drown the requests that matter. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** An unmatched path (a scanner's) is logged, but not at any length. */
const MAX_LOGGED_PATH_CHARS = 200;

interface RequestLocals {
  requestId?: string;
  eventId?: string;
}

/** The id requestLog gave this request (undefined on an app without it). */
export function requestIdOf(res: Response): string | undefined {
  return (res.locals as RequestLocals).requestId;
}

/** Names the one event a request was accepted as, so its access-log line links the two ids. */
export function noteEventId(res: Response, eventId: string): void {
  (res.locals as RequestLocals).eventId = eventId;
}

/**
 * The request id and the access log, mounted first on every service's Express app. The id is
 * the inbound X-Request-Id when sane (a proxy's, so its logs and ours join), else a random uuid;
 * it goes back in the X-Request-Id response header, into every JSON error body (`requestId`)
 * and onto the error log lines.
 *
 * One pino line per request when its response ends (or the client gives up: `aborted`), built
 * only then and only when its level is enabled: on the intake hot path that is one listener
 * and one log call, not a child logger per request. It names the route pattern (`/users/:userId/...`,
 * so ids do not make every line unique), else the path without its query (which could carry a
 * secret); never headers (Authorization, API keys) or bodies. Health checks and scrapes are
 * `debug`, 5xx answers `warn`, the rest `info`. LOG_ACCESS_SAMPLE_RATIO below 1 keeps that
 * fraction of the lines of answers below 500 (0: none); a 5xx is always logged.
 */
/** What one access-log line says about a request (shared by Express apps and the intake fast path). */
export interface AccessLine {
  requestId: string;
  method: string | undefined;
  /** The route pattern matched, if any. */
  route: string | undefined;
  /** The path without its query, when no route matched. */
  path: string | undefined;
  status: number;
  startedMs: number;
  bytes: unknown;
  client: string | undefined;
  eventId: string | undefined;
  finished: boolean;
  /** A health check or scrape: logged at debug. */
  quiet: boolean;
}

/** Writes access-log lines with the level and sampling rules above. */
export function accessLog(logger: Logger, config: Pick<Config, 'log'>): (line: AccessLine) => void {
  const sampleRatio = config.log.accessSampleRatio;
  // One child for the life of the app, without the logger's redaction: the line is built here
  // from fields that never hold a secret, and the wildcard paths (`*.token`...) cost about three
  // times what the rest of the line does (11 of 16 µs a line, measured).
  const lines = logger.child({}, { redact: [] });
  return (line) => {
    const level = line.status >= 500 ? 'warn' : line.quiet ? 'debug' : 'info';
    if (!lines.isLevelEnabled(level)) return;
    if (line.status < 500 && sampleRatio < 1 && Math.random() >= sampleRatio) return;
    // Fields left undefined are not written.
    lines[level](
      {
        requestId: line.requestId,
        method: line.method,
        route: line.route,
        path: line.path?.slice(0, MAX_LOGGED_PATH_CHARS),
        status: line.status,
        durationMs: Math.round((performance.now() - line.startedMs) * 10) / 10,
        bytes: line.bytes === undefined ? undefined : Number(line.bytes),
        client: line.client,
        eventId: line.eventId,
        aborted: line.finished ? undefined : true,
      },
      'request',
    );
  };
}

export function requestLog(logger: Logger, config: Pick<Config, 'log'>): RequestHandler {
  const write = accessLog(logger, config);
  return (req, res, next) => {
    const startedMs = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    (res.locals as RequestLocals).requestId = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // 'close' comes after 'finish' for a completed response and alone for an aborted one.
    res.once('close', () => {
      const route = req.route as { path?: unknown } | undefined;
      const matched = typeof route?.path === 'string';
      write({
        requestId,
        method: req.method,
        route: matched ? req.baseUrl + (route.path as string) : undefined,
        path: matched ? undefined : req.path,
        status: res.statusCode,
        startedMs,
        bytes: res.getHeader('content-length'),
        client: req.ip,
        eventId: (res.locals as RequestLocals).eventId,
        finished: res.writableFinished,
        quiet: QUIET_PATHS.has(req.path),
      });
    });
    next();
  };
}

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import proxyAddr from 'proxy-addr';
import { REQUEST_ID_HEADER, type accessLog, type AccessLine } from '../shared/http/request-log.js';
import { requestIdFrom } from '../shared/request-id.js';
import type { Logger } from '../shared/logger.js';
import { acceptEvent, forRequest, idempotencyKeyOf, type AcceptDeps } from './accept-event.js';
import { answerFor, HttpError } from './http-errors.js';
import type { IntakeKeys } from './intake-key.js';
import type { ProducerMetrics } from './metrics.js';

/**
 * POST /events from a backend, answered without Express: the hot path of the whole pipeline.
 * Express's router, CORS, rate-limit, 405 and body-parser layers cost the producer about half of
 * its CPU per event (docs/performance.md), and none of them decides anything for a trusted
 * backend's well-formed request. So this takes only the requests it answers exactly as the
 * Express route does (test/integration/intake-fast-path.test.ts sends the same requests both
 * ways and compares the answers):
 *
 * - `POST /events` with no query string;
 * - a valid intake key (a trusted caller, which the per-address rate limit does not count);
 * - `Content-Type: application/json` exactly, no Content-Encoding (body-parser inflates and
 *   decodes other charsets; those stay with it);
 * - no `Origin` (a browser's request needs CORS headers: Express adds them).
 *
 * Everything else, and every request while intake is open, goes to the Express app untouched,
 * before a byte of its body is read. The body rules are body-parser's: the size limit (413 once
 * the declared or received length passes it), a UTF-8 BOM ignored, an empty body read as `{}`,
 * any JSON value parsed (validation then says what is wrong).
 */
export interface FastPathDeps extends AcceptDeps {
  keys: IntakeKeys;
  maxBodyBytes: number;
  metrics: ProducerMetrics;
  logger: Logger;
  /** Writes the access-log line (shared/http/request-log.ts), as the Express apps' middleware does. */
  accessLog: ReturnType<typeof accessLog>;
  /** TRUST_PROXY: how many proxies' X-Forwarded-For entries name the client (Express 'trust proxy'). */
  trustProxyHops: number;
}

type Answer = { status: number; headers: Record<string, string>; body: unknown };

function takes(req: IncomingMessage, keys: IntakeKeys): boolean {
  const h = req.headers;
  return (
    req.method === 'POST' &&
    req.url === '/events' &&
    h['content-type'] === 'application/json' &&
    h['content-encoding'] === undefined &&
    h.origin === undefined &&
    keys.acceptsHeader(h.authorization)
  );
}

/**
 * The client's address exactly as Express's req.ip gives it with `trust proxy` set to a hop count:
 * Express compiles that setting to this trust function and asks proxy-addr.
 */
export function clientAddress(req: IncomingMessage, trustProxyHops: number): string | undefined {
  return proxyAddr(req, (_address, hop) => hop < trustProxyHops);
}

function send(res: ServerResponse, answer: Answer, requestId: string): void {
  const payload = JSON.stringify(answer.body);
  // setHeader, not writeHead's object: the access-log line reads Content-Length back.
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.setHeader(REQUEST_ID_HEADER, requestId);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.statusCode = answer.status;
  res.end(payload);
}

/** Reads the body under the limit; resolves undefined (after draining it) when it is too large. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      length += chunk.length;
      if (length > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(tooLarge ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)),
    );
    req.on('error', reject);
  });
}

function parse(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  let text = raw.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'invalid_json', 'the request body is not valid JSON');
  }
}

async function handle(deps: FastPathDeps, req: IncomingMessage, requestId: string): Promise<Answer> {
  try {
    const raw = await readBody(req, deps.maxBodyBytes);
    if (raw === undefined) throw new HttpError(413, 'payload_too_large', 'the request body exceeds the size limit');
    const header = req.headers['idempotency-key'];
    const headerKey = idempotencyKeyOf(typeof header === 'string' ? header : undefined);
    return { status: 202, headers: {}, body: await acceptEvent(forRequest(deps, requestId), parse(raw), headerKey) };
  } catch (err) {
    return answerFor(err, deps.logger, deps.metrics, deps.retryAfterSeconds, requestId);
  }
}

/** The producer's request listener: the fast path when it applies, else the Express app. */
export function withIntakeFastPath(deps: FastPathDeps, app: RequestListener): RequestListener {
  return (req, res) => {
    if (!takes(req, deps.keys)) {
      app(req, res);
      return;
    }
    deps.metrics.fastPath.inc();
    const startedMs = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    let eventId: string | undefined;
    res.once('close', () => {
      const line: AccessLine = {
        requestId,
        method: 'POST',
        route: '/events',
        path: undefined,
        status: res.statusCode,
        startedMs,
        bytes: res.getHeader('content-length'),
        client: clientAddress(req, deps.trustProxyHops),
        eventId,
        finished: res.writableFinished,
        quiet: false,
      };
      deps.accessLog(line);
    });
    handle(deps, req, requestId)
      .then((answer) => {
        if (answer.status === 202) eventId = (answer.body as { eventId?: string }).eventId;
        send(res, answer, requestId);
      })
      .catch((err: unknown) => {
        // Nothing above throws by design; if it ever does, the client must still get an answer.
        deps.logger.error(
          { err: err instanceof Error ? err.message : String(err), requestId },
          'intake fast path failed',
        );
        if (!res.headersSent)
          send(
            res,
            { status: 500, headers: {}, body: { error: 'internal_error', message: 'unexpected error', requestId } },
            requestId,
          );
        else res.destroy();
      });
  };
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../shared/logger.js';
import { HttpError } from './http-errors.js';

/**
 * Who may create notifications for others: the application's backend, holding a key from
 * INTAKE_API_KEYS, sent as `Authorization: ApiKey <key>`. It guards event intake (POST /events,
 * /like, /events/batch) and the follow and unfollow writes (a FOLLOW notifies the followed user;
 * both change whose posts reach whom). End users' JWTs are for the read API (producer/auth.ts)
 * and are refused here, as an API key is refused there: a leaked user token cannot send
 * notifications, and a leaked intake key cannot read anyone's.
 *
 * With no key configured (development and tests only; production refuses to start) intake is
 * open, and the producer says so loudly at start.
 */

export const INTAKE_AUTH_SCHEME = 'ApiKey';

/** Only the scheme and one token: a key never holds a space (shared/config.ts checks). */
const API_KEY_HEADER = /^ApiKey[ \t]+(\S+)[ \t]*$/i;
const BEARER_HEADER = /^Bearer\s/i;

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * The configured keys, kept only as SHA-256 digests. A presented key is digested too, so every
 * comparison is of two 32-byte buffers with `timingSafeEqual`: its time depends neither on how
 * much of a key matched nor on either key's length, and every configured key is compared (no
 * early exit), so neither does it reveal which key matched.
 */
export class IntakeKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** No key configured: intake is open (refused in production by shared/config.ts). */
  get open(): boolean {
    return this.digests.length === 0;
  }

  /** The Authorization header carries one of the keys (false while intake is open). */
  acceptsHeader(header: string | undefined): boolean {
    if (this.open || header === undefined) return false;
    const key = API_KEY_HEADER.exec(header)?.[1];
    return key !== undefined && this.accepts(key);
  }

  accepts(presented: string): boolean {
    const candidate = digest(presented);
    let matched = false;
    for (const known of this.digests) {
      const equal = timingSafeEqual(candidate, known);
      matched = matched || equal;
    }
    return matched;
  }
}

/** The guards this module made, so a test can find every route behind one (openapi.test.ts). */
const guards = new WeakSet<object>();

export function isIntakeKeyGuard(handler: unknown): boolean {
  return typeof handler === 'function' && guards.has(handler);
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message);
}

/**
 * The route guard. It runs before the body is parsed, so an unauthenticated caller costs no
 * parsing and learns nothing about what a valid body would be. Failures carry a reason, never
 * the header: the error handler logs nothing of the request.
 */
export function requireIntakeKey(keys: IntakeKeys): RequestHandler {
  const guard: RequestHandler = (req, res, next) => {
    if (keys.open || presentsIntakeKey(keys, req)) return next();
    const header = req.get('authorization');
    const key = header === undefined ? undefined : API_KEY_HEADER.exec(header)?.[1];
    res.set('WWW-Authenticate', INTAKE_AUTH_SCHEME);
    if (key !== undefined) return next(unauthorized('the API key is not valid'));
    if (header !== undefined && BEARER_HEADER.test(header)) {
      return next(
        unauthorized('a user token cannot send events: send Authorization: ApiKey <key> (one of INTAKE_API_KEYS)'),
      );
    }
    next(unauthorized("send Authorization: ApiKey <key> (one of the producer's INTAKE_API_KEYS)"));
  };
  guards.add(guard);
  return guard;
}

/** Each request's answer, so its key is digested once. */
const checked = new WeakMap<Request, boolean>();

/** The request carries one of the configured keys (never true while intake is open). */
export function presentsIntakeKey(keys: IntakeKeys, req: Request): boolean {
  if (keys.open) return false;
  // The rate limit and the route guard both ask, on every event: digest the key once per request.
  const known = checked.get(req);
  if (known !== undefined) return known;
  const accepted = keys.acceptsHeader(req.get('authorization'));
  checked.set(req, accepted);
  return accepted;
}

/** Once per producer start: an open intake must never go unnoticed. */
export function warnIfIntakeOpen(keys: IntakeKeys, logger: Logger): void {
  if (!keys.open) return;
  logger.warn(
    'INTAKE_API_KEYS is not set: EVENT INTAKE IS OPEN, anyone who can reach this port can send any notification to any user ' +
      '(refused in production; npm run dev sets a development key)',
  );
}

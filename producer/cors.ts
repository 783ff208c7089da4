import type { RequestHandler } from 'express';
import type { Config } from '../shared/config.js';

const LOCALHOST = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

function allowed(origin: string, cors: Config['http']['cors']): boolean {
  if (cors.origins.includes('*') || cors.origins.includes(origin)) return true;
  return cors.allowLocalhost && LOCALHOST.test(origin);
}

/**
 * CORS for browsers on another origin (the ws-server's demo page fires sample events and reads
 * timelines). Origins come from CORS_ORIGINS; outside production, localhost is allowed by default.
 * A refused origin simply gets no CORS headers, so the browser blocks the response.
 */
export function cors(config: Pick<Config, 'http'>): RequestHandler {
  return (req, res, next) => {
    const origin = req.get('origin');
    if (!origin || !allowed(origin, config.http.cors)) return next();
    res.set('Access-Control-Allow-Origin', origin);
    res.vary('Origin');
    // A browser hides every response header but a few unless exposed: the Retry-After of a 503
    // tells the page when to try again, the X-Request-Id names the request in a bug report.
    res.set('Access-Control-Expose-Headers', 'Retry-After, X-Request-Id');
    if (req.method !== 'OPTIONS') return next();
    res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE');
    res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Idempotency-Key, X-Request-Id');
    res.set('Access-Control-Max-Age', '600');
    res.status(204).end();
  };
}

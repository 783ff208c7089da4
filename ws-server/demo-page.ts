import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import type { Config } from '../shared/config.js';
import { MUTABLE_TYPES } from '../shared/preferences.js';

/** ws-server/public from this module, run from source (tsx) or from dist/ws-server. */
const CANDIDATES = ['./public/', '../../ws-server/public/'];

/** UNFOLLOW notifies nobody, so a checkbox to mute it would do nothing. */
const MUTABLE_ON_PAGE = MUTABLE_TYPES.filter((t) => t !== 'UNFOLLOW');

function publicDir(): string {
  for (const candidate of CANDIDATES) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error('ws-server/public not found next to the build');
}

/**
 * The key the page fires its sample events with, or undefined. Only where the page works at all
 * (WS_AUTH_MODE=dev, which production refuses) and never in production: anyone who can open the
 * page can read it, which in dev mode is no more than they can already do (read any inbox).
 */
export function demoIntakeKey(config: Pick<Config, 'nodeEnv' | 'auth' | 'intake'>): string | undefined {
  if (config.nodeEnv === 'production' || config.auth.mode !== 'dev') return undefined;
  return config.intake.apiKeys[0];
}

export type DemoPageConfig = Pick<Config, 'nodeEnv' | 'auth' | 'ws' | 'intake' | 'demo' | 'http'>;

/**
 * Whether the page may take the producer's address from `?api=` in its own URL. The page sends
 * the user's token (token mode) and a typed intake key to that address, so a link with
 * `?api=https://evil.example` would hand them to whoever it names. Only dev auth mode outside
 * production has nothing of the kind: no token, and the intake key (if any) is served to
 * anyone who opens the page anyway (demoIntakeKey).
 */
export function demoApiOverride(config: Pick<Config, 'nodeEnv' | 'auth'>): boolean {
  return config.nodeEnv !== 'production' && config.auth.mode === 'dev';
}

/**
 * What the page must know from the server: its auth mode (a bare userId in dev mode, else the
 * page asks for a token), the most ids one ACK frame may carry, where the producer is
 * (DEMO_PRODUCER_URL, else the page's own host with PRODUCER_PORT: the server cannot know the
 * host name the browser used, the page can), whether `?api=` may override that, the types a user
 * may mute and, in development, the producer's intake key for its "Simulate activity" button
 * (without one the page asks).
 */
export function demoConfig(config: DemoPageConfig) {
  return {
    authMode: config.auth.mode,
    maxAckBatch: config.ws.maxAckBatch,
    intakeApiKey: demoIntakeKey(config),
    producerUrl: config.demo.producerUrl ?? null,
    apiOverride: demoApiOverride(config),
    producerPort: config.http.ports.producer,
    mutableTypes: MUTABLE_ON_PAGE,
  };
}

/**
 * The Content-Security-Policy of the page's responses: a second line of defence should remote
 * text ever reach the DOM as markup again (no inline or foreign script runs, no plugin, no
 * <base> to redirect relative URLs, no framing to click-jack the sign-in), and no connection to
 * anyone but this origin and the producer, so even injected code could not send a token away.
 *
 * connect-src: 'self' covers the page's own http(s) and, in CSP Level 3, its ws(s) origin. The
 * producer is DEMO_PRODUCER_URL's origin when set; else the page's own host on PRODUCER_PORT,
 * whose host name only the browser knows (a proxy may change Host), hence any host on that port.
 * Where `?api=` may name a producer anywhere (demoApiOverride: dev mode, nothing to steal)
 * connect-src is left open, or the override could not work.
 */
export function demoContentSecurityPolicy(config: DemoPageConfig): string {
  const directives = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ];
  const port = config.http.ports.producer;
  const producer = config.demo.producerUrl
    ? new URL(config.demo.producerUrl).origin
    : `http://*:${port} https://*:${port}`;
  directives.push(
    demoApiOverride(config) ? "connect-src 'self' http: https: ws: wss:" : `connect-src 'self' ${producer}`,
  );
  return directives.join('; ');
}

/** The demo inbox page at `/`: static files plus /demo-config.json, under one CSP. */
export function mountDemoPage(app: Express, config: DemoPageConfig): void {
  const csp = demoContentSecurityPolicy(config);
  app.get('/demo-config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.set('Content-Security-Policy', csp);
    res.json(demoConfig(config));
  });
  app.use(
    express.static(publicDir(), {
      index: 'index.html',
      maxAge: '5m',
      setHeaders: (res) => res.setHeader('Content-Security-Policy', csp),
    }),
  );
}

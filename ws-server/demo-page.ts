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
 * What the page must know from the server: its auth mode (a bare userId in dev mode, else the
 * page asks for a token), the most ids one ACK frame may carry, where the producer is
 * (DEMO_PRODUCER_URL, else the page's own host with PRODUCER_PORT: the server cannot know the
 * host name the browser used, the page can), the types a user may mute and, in development, the
 * producer's intake key for its "Simulate activity" button (without one the page asks).
 */
export function demoConfig(config: DemoPageConfig) {
  return {
    authMode: config.auth.mode,
    maxAckBatch: config.ws.maxAckBatch,
    intakeApiKey: demoIntakeKey(config),
    producerUrl: config.demo.producerUrl ?? null,
    producerPort: config.http.ports.producer,
    mutableTypes: MUTABLE_ON_PAGE,
  };
}

/** The demo inbox page at `/`: static files plus /demo-config.json. */
export function mountDemoPage(app: Express, config: DemoPageConfig): void {
  app.get('/demo-config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json(demoConfig(config));
  });
  app.use(express.static(publicDir(), { index: 'index.html', maxAge: '5m' }));
}

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';
import type { Config } from '../shared/config.js';

/** ws-server/public from this module, run from source (tsx) or from dist/ws-server. */
const CANDIDATES = ['./public/', '../../ws-server/public/'];

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

/**
 * The demo inbox page at `/`: static files plus what the page must know from the server: its
 * auth mode (the page signs in with a bare userId, so it needs WS_AUTH_MODE=dev), the most ids
 * one ACK frame may carry (it acknowledges everything on screen at once) and, in development,
 * the producer's intake key for its "Simulate activity" button (without one the page asks).
 */
export function mountDemoPage(app: Express, config: Pick<Config, 'nodeEnv' | 'auth' | 'ws' | 'intake'>): void {
  app.get('/demo-config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.json({ authMode: config.auth.mode, maxAckBatch: config.ws.maxAckBatch, intakeApiKey: demoIntakeKey(config) });
  });
  app.use(express.static(publicDir(), { index: 'index.html', maxAge: '5m' }));
}

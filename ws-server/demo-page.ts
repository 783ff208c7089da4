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
 * The demo inbox page at `/`: static files plus what the page must know from the server: its
 * auth mode (the page signs in with a bare userId, so it needs WS_AUTH_MODE=dev) and the most
 * ids one ACK frame may carry (it acknowledges everything on screen at once).
 */
export function mountDemoPage(app: Express, config: Pick<Config, 'auth' | 'ws'>): void {
  app.get('/demo-config.json', (_req, res) => {
    res.json({ authMode: config.auth.mode, maxAckBatch: config.ws.maxAckBatch });
  });
  app.use(express.static(publicDir(), { index: 'index.html', maxAge: '5m' }));
}

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';

/**
 * The TypeScript client (client/) as one ES module for browsers, served at `/client.js` so a
 * page needs no bundler: `import { createClient } from '/client.js'` (docs/client.md).
 *
 * Built (`npm run build`), it is dist/client/browser.js next to this module's dist/ws-server.
 * Run from source (tsx: `npm run dev`, the tests) there is no dist to trust, so the source is
 * bundled in memory with esbuild at the first request and kept for the life of the process.
 */
const BUILT = fileURLToPath(new URL('../client/browser.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('../client/browser-entry.ts', import.meta.url));

/** The esbuild options of both the build (scripts/build-client.ts) and the in-memory bundle. */
export const BROWSER_BUNDLE = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Every browser with ES modules and the WebSocket API in current use; no Node built-in resolves.
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'silent',
} as const;

/** Bundles client/browser-entry.ts; esbuild is imported only here, never when serving the built file. */
export async function bundleBrowserClient(entry = ENTRY): Promise<string> {
  const { build } = await import('esbuild');
  const result = await build({ ...BROWSER_BUNDLE, entryPoints: [entry], write: false });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
}

let script: Promise<string> | undefined;

function clientScript(): Promise<string> {
  script ??= (existsSync(BUILT) ? readFile(BUILT, 'utf8') : bundleBrowserClient()).catch((err: unknown) => {
    script = undefined; // the next request tries again
    throw err;
  });
  return script;
}

export function mountClientScript(app: Express): void {
  app.get('/client.js', async (_req, res) => {
    const body = await clientScript();
    // Public code, importable as a module script from a page on another origin (CORS applies to those).
    res.set({ 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' });
    res.type('text/javascript').send(body);
  });
}

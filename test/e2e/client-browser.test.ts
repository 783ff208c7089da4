import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type * as ClientModule from '../../client/index.js';
import { ackedAt } from '../../shared/buffer.js';
import { testEnv } from '../helpers/config.js';
import { eventually } from '../helpers/wait.js';
import { wsServerSuite } from '../helpers/ws-suite.js';

/** Debian's chromium (scripts/test.sh installs it if missing), never a downloaded build. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

const { config } = testEnv('clientbrowser', { WS_AUTH_MODE: 'dev' });

/**
 * The client as a browser gets it: `/client.js` (bundled from source at the first request, as
 * under `npm run dev`), imported by a page with no bundler, on the browser's own WebSocket.
 */
describe('client: /client.js in Chromium', () => {
  const suite = wsServerSuite(config);
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  after(async () => {
    await browser?.close();
  });

  it('connects with the global WebSocket, receives, acks, and closes', async () => {
    const user = 'webuser';
    await page.goto(`http://127.0.0.1:${suite.server.port}/healthz`);
    const origin = `http://127.0.0.1:${suite.server.port}`;
    await page.evaluate(
      async ([scriptUrl, wsUrl]) => {
        const { createClient } = (await import(scriptUrl)) as typeof ClientModule;
        const w = globalThis as unknown as Record<string, unknown>;
        const seen: string[] = [];
        const states: string[] = [];
        const client = createClient({ url: wsUrl, userId: 'webuser' });
        client.on('notification', (n) => {
          seen.push(n.id);
          client.ack(n.id);
        });
        client.on('state', (s) => states.push(s.state));
        Object.assign(w, { client, seen, states });
      },
      [`${origin}/client.js`, `ws://127.0.0.1:${suite.server.port}`] as const,
    );
    await page.waitForFunction(() => (globalThis as unknown as { client: { state: string } }).client.state === 'open');

    const sent = [
      await suite.consumer.deliver(await suite.consumer.make(user)),
      await suite.consumer.deliver(await suite.consumer.make(user)),
    ];
    await page.waitForFunction((n) => (globalThis as unknown as { seen: string[] }).seen.length === n, sent.length);
    assert.deepEqual(
      await page.evaluate(() => (globalThis as unknown as { seen: string[] }).seen),
      sent.map((n) => n.id),
    );
    await eventually(
      async () =>
        (
          await ackedAt(
            suite.consumer.redis,
            user,
            sent.map((n) => n.id),
          )
        ).every((a) => a !== null),
      {
        what: 'the acks recorded by the server',
      },
    );

    await page.evaluate(() => (globalThis as unknown as { client: { close(): Promise<void> } }).client.close());
    assert.deepEqual(await page.evaluate(() => (globalThis as unknown as { states: string[] }).states), [
      'connecting',
      'authenticating',
      'open',
      'closed',
    ]);
    assert.deepEqual(pageErrors, []);
  });
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bootstrap as bootstrapWs } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { eventually } from '../helpers/wait.js';

/** Debian's chromium (scripts/test.sh installs it if missing), never a downloaded build. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = '.artifacts';

describe('the demo inbox page in a real browser', () => {
  let p: Pipeline;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    // The producer takes an intake key: the page's button fires events with the one the
    // ws-server serves it in development.
    p = await startPipeline('demopage', { WS_AUTH_MODE: 'dev', INTAKE_API_KEYS: randomBytes(32).toString('base64url') });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  after(async () => {
    await browser?.close();
    await p?.close();
  });

  it('shows a notification fired by another user live, ACKs it on view, and renders its timeline', async () => {
    await page.goto(`http://127.0.0.1:${p.wsPort}/?user=user2&api=${encodeURIComponent(p.producerUrl)}`);
    await page.locator('#state[data-state="connected"]').waitFor();
    assert.equal(await page.locator('#user').inputValue(), 'user2');

    // Another user acts: Ada (user1) likes one of user2's posts, straight through the producer.
    const accepted = await p.post('/events', { type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post3' });
    assert.equal(accepted.status, 202);
    const item = page.locator('#list li.item').filter({ hasText: 'Ada liked your post' });
    await item.waitFor();
    assert.equal(await page.locator('#badge').getAttribute('data-count'), '1');

    // On screen means seen: the page ACKs it and the server confirms with ACKED.
    await page.locator('#list li[data-acked="true"]').filter({ hasText: 'Ada liked your post' }).waitFor();
    const id = await item.getAttribute('data-id');
    assert.ok(id);
    const timeline = await eventually(async () => {
      const res = await p.request('GET', `/notifications/${id}/timeline`, 'user2');
      const stages = (res.body as { stages?: Record<string, string | null> }).stages;
      return stages?.acked ? stages : undefined;
    }, { what: 'the ACK recorded by the server' });
    assert.ok(timeline.sent);

    // The page's own button fires an event through the producer (CORS, with the intake key it was
    // served, so no key field is shown): a security alert, styled urgent.
    assert.equal(await page.locator('#key-field').isVisible(), false);
    await page.locator('#actor').selectOption('user3');
    await page.locator('#type').selectOption('SECURITY');
    await page.locator('#send').click();
    await page.locator('#fire-result').filter({ hasText: 'Accepted' }).waitFor();
    const urgent = page.locator('#list li.item.prio-high').filter({ hasText: 'sign-in' });
    await urgent.waitFor();
    assert.equal(await page.locator('#list li.item').first().getAttribute('data-id'), await urgent.getAttribute('data-id'));
    await page.locator('#badge[data-count="2"]').waitFor();

    // Selecting one marks it read and shows where it went in the pipeline.
    await item.click();
    await page.locator('#badge[data-count="1"]').waitFor();
    await page.locator('#timeline li.done[data-stage="acked"]').waitFor();
    await page.locator('#timeline li.done[data-stage="read"]').waitFor();
    // The stored status follows the read mark once jobs writes it (persistence is batched).
    const stored = await eventually(async () => {
      const res = await p.request('GET', `/notifications/${id}/timeline`, 'user2');
      return res.body.status === 'read' ? res.body : undefined;
    }, { what: 'the read status stored' });
    assert.equal(stored.status, 'read');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/demo-page.png`, fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  it('tells the user it needs WS_AUTH_MODE=dev when the ws-server is in token mode', async () => {
    const { config } = testEnv('demopagetoken', { WS_AUTH_MODE: 'token' });
    const ws = await bootstrapWs(config, testLogger);
    try {
      const tokenPage = await browser.newPage();
      await tokenPage.goto(`http://127.0.0.1:${ws.port}/?api=${encodeURIComponent(p.producerUrl)}`);
      await tokenPage.locator('#banner').filter({ hasText: 'WS_AUTH_MODE=dev' }).waitFor();
      assert.equal(await tokenPage.locator('#state').getAttribute('data-state'), 'error');
      // No key is served outside dev mode: the page asks for one instead.
      assert.equal(await tokenPage.locator('#key-field').isVisible(), true);
      await tokenPage.close();
    } finally {
      await ws.close();
      await cleanupTestResources(config);
    }
  });
});

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { bootstrap as bootstrapWs } from '../../ws-server/bootstrap.js';
import { loadConfig } from '../../shared/config.js';
import { models } from '../../shared/models/index.js';
import { connectMongo } from '../../shared/mongo.js';
import { testLogger } from '../helpers/logger.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { eventually } from '../helpers/wait.js';

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
/** Screenshots land here for a person to look at; the assertions are on the DOM, never on pixels. */
const ARTIFACTS = '.artifacts';

interface Stored {
  id: string;
  status: string;
}
/** What the reconnect test keeps in the page's global scope. */
interface PageGlobals {
  seenStates: string[];
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: unknown): void };
}

/** What a request to the stand-in for a hostile producer carried. */
interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * A stand-in for a server a link's `?api=` could name: it records every request, lets any page
 * call it (CORS, the Authorization header included, as an attacker's server would) and answers
 * with markup where the page shows text: a user's name in /users and an error message elsewhere.
 */
async function hostileProducer(): Promise<{ url: string; requests: Recorded[]; close(): Promise<void> }> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.setHeader('access-control-allow-origin', '*');
    res.setHeader('access-control-allow-methods', 'GET, POST, PUT, PATCH, OPTIONS');
    res.setHeader('access-control-allow-headers', 'authorization, content-type, accept');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url === '/users') {
      return void res.end(
        JSON.stringify({
          users: [
            { id: 'user8', name: 'Eve' },
            { id: 'user1', name: '<img src="x" id="injected-name">' },
          ],
        }),
      );
    }
    res.writeHead(500).end(JSON.stringify({ error: 'internal', message: '<img src="x" id="injected-error">' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('the demo inbox page in a real browser', () => {
  let p: Pipeline;
  let browser: Browser;
  const pageErrors: string[] = [];

  const pageUrl = (port: number, userId: string) =>
    `http://127.0.0.1:${port}/?user=${userId}&api=${encodeURIComponent(p.producerUrl)}`;
  async function open(url: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(url);
    await page.locator('#state[data-state="connected"]').waitFor();
    return page;
  }
  async function shot(page: Page, name: string): Promise<void> {
    // From the top, so the sticky top bar is where a person sees it.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
  }
  /** Every notification id shown in the inbox card, in order (an id twice would be a bug). */
  const listedIds = (page: Page) =>
    page.locator('#list li.item').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id')!));
  async function stored(userId: string): Promise<Stored[]> {
    const res = await p.request('GET', `/users/${userId}/notifications?limit=100`, userId);
    return res.body.notifications as Stored[];
  }
  /** read-all reaches stored notifications (and ones the buffer still holds), so wait for jobs. */
  const allStoredAndAcked = (userId: string, count: number) =>
    eventually(
      async () => {
        const list = await stored(userId);
        return list.length >= count && list.every((n) => n.status !== 'undelivered') ? list : undefined;
      },
      { what: `${count} notifications of ${userId} stored as delivered` },
    );

  before(async () => {
    // The producer takes an intake key: the page's button fires events with the one the
    // ws-server serves it in development.
    p = await startPipeline('demopage', {
      WS_AUTH_MODE: 'dev',
      INTAKE_API_KEYS: randomBytes(32).toString('base64url'),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await p?.close();
  });

  it('goes through a full session: live arrival, ACK on view, timeline, read, day groups, load more, filter, preferences', async () => {
    // user2's older history, straight into MongoDB as jobs would have stored it: 3 from yesterday
    // and 20 from five days ago, all read, so the first page (20) holds both days and a second
    // page exists; and one delivered but unread from nine days ago, on no first page but the
    // unread tab's (the unread count, rebuilt from MongoDB at the first AUTH, counts it).
    const mongo = await connectMongo(p.config, testLogger);
    try {
      // Local noon days ago, so the day a notification falls on does not depend on the hour the test runs.
      const noonDaysAgo = (days: number) => {
        const d = new Date();
        d.setDate(d.getDate() - days);
        d.setHours(12, 0, 0, 0);
        return d.getTime();
      };
      const old = (i: number, at: number, status: 'read' | 'delivered' = 'read') => ({
        _id: randomUUID(),
        userId: 'user2',
        seq: 0,
        type: 'ORDER',
        actors: [],
        actorCount: 0,
        objectId: `order-old-${i}`,
        message: `Your order old-${i} has shipped`,
        priority: 9,
        status,
        version: 1,
        eventIds: [],
        createdAt: new Date(at - i * 60_000),
        deliveredAt: new Date(at),
        readAt: status === 'read' ? new Date(at) : null,
        persistedAt: new Date(at),
      });
      await models(mongo).Notification.insertMany([
        ...Array.from({ length: 3 }, (_, i) => old(i, noonDaysAgo(1))),
        ...Array.from({ length: 20 }, (_, i) => old(3 + i, noonDaysAgo(5))),
        old(99, noonDaysAgo(9), 'delivered'),
      ]);
    } finally {
      await mongo.close();
    }

    const page = await open(pageUrl(p.wsPort, 'user2'));
    assert.equal(await page.locator('#user').inputValue(), 'user2');
    await eventually(async () => (await listedIds(page)).length === 20, { what: 'the first history page' });
    const days = () => page.locator('#list section.day .day-label').allTextContents();
    const firstDays = await days();
    assert.equal(firstDays[0], 'Yesterday');
    assert.equal(firstDays.length, 2, `two days on the first page: ${firstDays.join(', ')}`);
    assert.equal(await page.locator('#load-more').isVisible(), true);
    await page.locator('#badge[data-count="1"]').waitFor();

    // Another user acts: Ada (user1) likes one of user2's posts, straight through the producer.
    const accepted = await p.post('/events', { type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post3' });
    assert.equal(accepted.status, 202);
    const item = page.locator('#list li.item').filter({ hasText: 'Ada liked your post' });
    await item.waitFor();
    await page.locator('#badge[data-count="2"]').waitFor();
    assert.equal((await days())[0], 'Today', 'a new day group on top');

    // On screen means seen: the page ACKs it through the client and the server records it.
    await page.locator('#list li[data-acked="true"]').filter({ hasText: 'Ada liked your post' }).waitFor();
    const id = await item.getAttribute('data-id');
    assert.ok(id);
    const timeline = await eventually(
      async () => {
        const res = await p.request('GET', `/notifications/${id}/timeline`, 'user2');
        const stages = (res.body as { stages?: Record<string, string | null> }).stages;
        return stages?.acked ? stages : undefined;
      },
      { what: 'the ACK recorded by the server' },
    );
    assert.ok(timeline.sent);

    // The page's own button fires an event through the producer (CORS, with the intake key it was
    // served, so no key field is shown): a security alert, styled urgent, on top.
    assert.equal(await page.locator('#key-field').isVisible(), false);
    await page.locator('#actor').selectOption('user3');
    await page.locator('#type').selectOption('SECURITY');
    await page.locator('#send').click();
    await page.locator('#fire-result').filter({ hasText: 'Accepted' }).waitFor();
    const urgent = page.locator('#list li.item.prio-high').filter({ hasText: 'sign-in' });
    await urgent.waitFor();
    assert.equal(await urgent.locator('.tag-high').textContent(), 'Important');
    assert.equal(
      await page.locator('#list li.item').first().getAttribute('data-id'),
      await urgent.getAttribute('data-id'),
    );
    await page.locator('#badge[data-count="3"]').waitFor();

    // The bell opens a dropdown with the newest ones.
    await page.locator('#bell').click();
    await page.locator('#dropdown').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#bell').getAttribute('aria-expanded'), 'true');
    assert.equal(
      await page.locator('#dd-list li.item').first().getAttribute('data-id'),
      await urgent.getAttribute('data-id'),
    );
    await page.locator('#dd-list li.item').filter({ hasText: 'Ada liked your post' }).waitFor();
    await shot(page, 'demo-page-dropdown');
    await page.keyboard.press('Escape');
    await page.locator('#dropdown').waitFor({ state: 'hidden' });

    // Selecting one marks it read (the badge follows the server's UNREAD frame) and shows where it
    // went in the pipeline.
    await item.click();
    await page.locator('#badge[data-count="2"]').waitFor();
    await page.locator('#list li.item[data-read="true"]').filter({ hasText: 'Ada liked your post' }).waitFor();
    await page.locator('#timeline li.done[data-stage="acked"]').waitFor();
    await page.locator('#timeline li.done[data-stage="read"]').waitFor();
    const readStored = await eventually(
      async () => {
        const res = await p.request('GET', `/notifications/${id}/timeline`, 'user2');
        return res.body.status === 'read' ? res.body : undefined;
      },
      { what: 'the read status stored' },
    );
    assert.equal(readStored.status, 'read');

    // Unread only: the alert, and the old unread one the unread tab's own first page brought
    // (status=unread); All: everything loaded so far.
    await page.locator('#inbox .tab[data-filter="unread"]').click();
    await page.locator('#list li.item').filter({ hasText: 'old-99' }).waitFor();
    const unreadIds = await listedIds(page);
    assert.equal(unreadIds.length, 2, 'the alert and old-99');
    assert.equal(unreadIds[0], await urgent.getAttribute('data-id'));
    assert.equal(await page.locator('#inbox .tab[data-filter="unread"]').getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#load-more').isVisible(), false, 'no more unread pages');
    await page.locator('#inbox .tab[data-filter="all"]').click();
    await eventually(async () => (await listedIds(page)).length === 23, { what: 'all again' });

    // Load more: the rest of the history after what is shown (old-99 again, once), then no more pages.
    await page.locator('#load-more').click();
    await eventually(async () => (await listedIds(page)).length === 26, { what: 'the second history page' });
    await page.locator('#load-more').waitFor({ state: 'hidden' });
    const ids = await listedIds(page);
    assert.equal(new Set(ids).size, ids.length, 'no notification twice');
    const allDays = await days();
    assert.deepEqual(allDays.slice(0, 2), ['Today', 'Yesterday']);
    assert.equal(allDays.length, 4, allDays.join(', '));
    for (const label of allDays.slice(2)) assert.doesNotMatch(label, /Today|Yesterday/);
    await shot(page, 'demo-page');

    // Preferences: loaded from the API, a bad time zone is refused with the API's reason, a good
    // change is saved, and it is what the screen shows after a reload.
    await page.locator('#open-prefs').click();
    await page.locator('#prefs-status[data-state="loaded"]').waitFor();
    assert.equal(await page.locator('#prefs input[name="muted"][value="LIKE"]').isChecked(), false);
    assert.equal(
      await page.locator('#prefs input[name="muted"][value="SECURITY"]').count(),
      0,
      'transactional types cannot be muted',
    );
    await page.locator('#prefs input[name="muted"][value="LIKE"]').check();
    await page.locator('#promo-opt-out').check();
    await page.locator('#dnd-on').check();
    await page.locator('#dnd-start').fill('22:30');
    await page.locator('#dnd-end').fill('06:45');
    await page.locator('#dnd-tz').fill('Mars/Olympus_Mons');
    await page.locator('#prefs-save').click();
    await page.locator('#prefs-status[data-state="error"]').filter({ hasText: 'timeZone' }).waitFor();
    await page.locator('#dnd-tz').fill('Europe/Paris');
    await page.locator('#prefs-save').click();
    await page.locator('#prefs-status[data-state="saved"]').waitFor();
    await shot(page, 'demo-page-preferences');
    const saved = await p.request('GET', '/users/user2/preferences', 'user2');
    assert.deepEqual(saved.body, {
      mutedTypes: ['LIKE'],
      promotionalOptOut: true,
      doNotDisturb: { start: '22:30', end: '06:45', timeZone: 'Europe/Paris' },
    });

    await page.reload();
    await page.locator('#state[data-state="connected"]').waitFor();
    await page.locator('#open-prefs').click();
    await page.locator('#prefs-status[data-state="loaded"]').waitFor();
    assert.equal(await page.locator('#prefs input[name="muted"][value="LIKE"]').isChecked(), true);
    assert.equal(await page.locator('#prefs input[name="muted"][value="COMMENT"]').isChecked(), false);
    assert.equal(await page.locator('#promo-opt-out').isChecked(), true);
    assert.equal(await page.locator('#dnd-on').isChecked(), true);
    assert.equal(await page.locator('#dnd-start').inputValue(), '22:30');
    assert.equal(await page.locator('#dnd-end').inputValue(), '06:45');
    assert.equal(await page.locator('#dnd-tz').inputValue(), 'Europe/Paris');
    await page.locator('#prefs-cancel').click();
    await page.locator('#prefs').waitFor({ state: 'hidden' });
    await page.close();
    assert.deepEqual(pageErrors, []);
  });

  it('keeps two tabs of one user on the same unread count after "mark all read" in one', async () => {
    const tabA = await open(pageUrl(p.wsPort, 'user4'));
    const tabB = await open(pageUrl(p.wsPort, 'user4'));
    for (const [i, actor] of ['user1', 'user3', 'user5'].entries()) {
      const res = await p.post('/events', {
        type: 'COMMENT',
        actorId: actor,
        targetId: 'user4',
        postId: `post${10 + i}`,
        text: `comment ${i}`,
      });
      assert.equal(res.status, 202);
    }
    for (const tab of [tabA, tabB]) await tab.locator('#badge[data-count="3"]').waitFor();
    await allStoredAndAcked('user4', 3);

    await tabA.locator('#read-all').click();
    // Tab B did nothing: its badge follows the server's UNREAD frame, and with nothing unread left
    // anywhere it shows its own list as read too.
    for (const tab of [tabA, tabB]) {
      await tab.locator('#badge[data-count="0"]').waitFor({ state: 'attached' });
      assert.equal(await tab.locator('#badge').isVisible(), false);
      await eventually(async () => (await tab.locator('#list li.item[data-read="false"]').count()) === 0, {
        what: 'every item read',
      });
      assert.equal(await tab.locator('#list li.item').count(), 3);
      assert.equal(await tab.title(), 'Pulse · live inbox');
    }
    const count = await p.request('GET', '/users/user4/notifications/unread-count', 'user4');
    assert.equal(count.body.unread, 0);

    // A new one counts in both again.
    await p.post('/events', { type: 'FOLLOW', actorId: 'user6', targetId: 'user4' });
    for (const tab of [tabA, tabB]) {
      await tab.locator('#badge[data-count="1"]').waitFor();
      assert.equal(await tab.title(), '(1) Pulse · live inbox');
    }
    await shot(tabB, 'demo-page-second-tab');
    await tabA.close();
    await tabB.close();
    assert.deepEqual(pageErrors, []);
  });

  it('shows reconnecting, then live, when the connection drops, and misses nothing nor shows anything twice', async () => {
    // The page reaches the ws-server through a proxy the test cuts (the producer stays reachable).
    const proxy = await new TcpProxy('127.0.0.1', p.wsPort).start();
    try {
      const page = await open(pageUrl(proxy.port, 'user5'));
      // Every state the indicator goes through, in order.
      await page.locator('#state').evaluate((pill) => {
        // This runs in the page (the test's tsconfig has no DOM types, hence the casts).
        const g = globalThis as unknown as PageGlobals;
        const seen = [pill.getAttribute('data-state')!];
        g.seenStates = seen;
        new g.MutationObserver(() => {
          const now = pill.getAttribute('data-state')!;
          if (seen.at(-1) !== now) seen.push(now);
        }).observe(pill, { attributes: true, attributeFilter: ['data-state'] });
      });
      await p.post('/events', { type: 'MENTION', actorId: 'user1', targetId: 'user5', postId: 'post1' });
      await page.locator('#list li.item[data-acked="true"]').filter({ hasText: 'mentioned you' }).waitFor();

      await proxy.cut();
      await page.locator('#state[data-state="reconnecting"]').waitFor();
      assert.equal(await page.locator('#state').textContent(), 'reconnecting…');
      await shot(page, 'demo-page-reconnecting');
      // Sent while the page is cut off: the resume after the reconnect must bring it.
      const missed = await p.post('/events', {
        type: 'ORDER',
        targetId: 'user5',
        orderId: 'order-while-away',
        text: 'has shipped',
      });
      assert.equal(missed.status, 202);
      await eventually(
        async () => {
          const res = await p.request('GET', '/users/user5/notifications/unread-count', 'user5');
          return res.body.unread === 2;
        },
        { what: 'the missed notification buffered' },
      );

      await proxy.start();
      await page.locator('#state[data-state="connected"]').waitFor();
      await page.locator('#list li.item').filter({ hasText: 'order-while-away' }).waitFor();
      await page.locator('#badge[data-count="2"]').waitFor();
      const seen = await page.evaluate(() => (globalThis as unknown as PageGlobals).seenStates);
      const cutAt = seen.indexOf('reconnecting');
      assert.ok(cutAt > 0 && seen.slice(cutAt).includes('connected'), `states: ${seen.join(' → ')}`);
      const ids = await listedIds(page);
      assert.equal(ids.length, 2, 'each notification once');
      assert.equal(new Set(ids).size, 2);
      assert.equal(await page.locator('#dd-list li.item').count(), 2);
      await page.close();
    } finally {
      await proxy.close();
    }
    assert.deepEqual(pageErrors, []);
  });

  it('fits a 390 px wide phone screen, dropdown and preferences included', async () => {
    await p.post('/events', {
      type: 'SECURITY',
      targetId: 'user6',
      text: 'New sign-in from Firefox on Linux near Saint-Rémy-de-Provence, France, from a device never seen before',
    });
    await p.post('/events', {
      type: 'PROMO',
      targetId: 'user6',
      campaignId: 'narrow-1',
      text: '20% off all plans this week only',
    });
    const page = await open(pageUrl(p.wsPort, 'user6'), { width: 390, height: 844 });
    await page.locator('#list li.item').nth(1).waitFor();
    const width = () => page.locator('html').evaluate((html) => html.scrollWidth);
    const inside = async (selector: string) => {
      const box = await page.locator(selector).boundingBox();
      assert.ok(box, selector);
      assert.ok(box.x >= 0 && box.x + box.width <= 390, `${selector} spans ${box.x}..${box.x + box.width}`);
    };

    assert.ok((await width()) <= 390, `page is ${await width()} px wide`);
    for (const selector of ['#bell', '#state', '#list li.item >> nth=0', '#send', '#read-all']) await inside(selector);
    // The long message wraps instead of widening its card.
    const msg = page.locator('#list li.item.prio-high .msg');
    assert.ok((await msg.evaluate((el) => el.getBoundingClientRect().height)) > 20);
    assert.equal(await page.locator('#list li.item.prio-low .tag-low').textContent(), 'Promo');
    await shot(page, 'demo-page-390');

    await page.locator('#bell').click();
    await page.locator('#dropdown').waitFor({ state: 'visible' });
    await inside('#dropdown');
    assert.equal(await page.locator('#dd-list li.item').count(), 2);
    assert.ok((await width()) <= 390);
    await shot(page, 'demo-page-390-dropdown');

    await page.locator('#dd-prefs').click();
    await page.locator('#prefs-status[data-state="loaded"]').waitFor();
    await inside('#prefs');
    await inside('#prefs-save');
    assert.ok((await width()) <= 390);
    await shot(page, 'demo-page-390-preferences');
    await page.close();
    assert.deepEqual(pageErrors, []);
  });

  it('in token mode signs in with a pasted token and finds the producer from DEMO_PRODUCER_URL', async () => {
    // A second ws-server of the same pipeline, verifying tokens, told where the producer is.
    const config = loadConfig({ ...p.env, WS_AUTH_MODE: 'token', DEMO_PRODUCER_URL: `${p.producerUrl}/` });
    const ws = await bootstrapWs(config, testLogger);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('pageerror', (err) => pageErrors.push(err.message));
      await page.goto(`http://127.0.0.1:${ws.port}/`); // no ?api=: the page must use DEMO_PRODUCER_URL
      await page.locator('#signin').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#state').getAttribute('data-state'), 'idle');
      // The user list came from the producer (else the page says it cannot reach it).
      await page.locator('#actor option').filter({ hasText: 'Ada (user1)' }).waitFor({ state: 'attached' });
      assert.equal(
        await page.locator('#banner').isVisible(),
        false,
        (await page.locator('#banner').textContent()) ?? '',
      );
      // No key is served outside dev mode: the page asks for one instead.
      assert.equal(await page.locator('#key-field').isVisible(), true);

      await page.locator('#token').fill(await p.token('user7'));
      await page.locator('#signin-form button[type="submit"]').click();
      await page.locator('#state[data-state="connected"]').waitFor();
      assert.equal(await page.locator('#signin').isVisible(), false);
      assert.equal(await page.locator('#user').inputValue(), 'user7');
      assert.equal(await page.locator('#user').isDisabled(), true);
      assert.equal(await page.locator('#banner').isVisible(), false);

      await p.post('/events', { type: 'FOLLOW', actorId: 'user1', targetId: 'user7' });
      await page.locator('#list li.item[data-acked="true"]').filter({ hasText: 'Ada' }).waitFor();
      await page.locator('#badge[data-count="1"]').waitFor();
      await page.locator('#list li.item').first().click(); // the read API, with the token
      await page.locator('#badge[data-count="0"]').waitFor({ state: 'attached' });
      await page.locator('#timeline li.done[data-stage="read"]').waitFor();
      await shot(page, 'demo-page-token');

      // The token lives in the tab: a reload signs in again without asking; signing out forgets it.
      await page.reload();
      await page.locator('#state[data-state="connected"]').waitFor();
      assert.equal(await page.locator('#user').inputValue(), 'user7');
      await page.locator('#signout').click();
      await page.locator('#signin').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#state').getAttribute('data-state'), 'idle');
      await page.close();
    } finally {
      await ws.close();
    }
    assert.deepEqual(pageErrors, []);
  });

  it('in token mode ignores ?api= and sends the token only to the configured producer, under a CSP', async () => {
    // A link naming another server: were the page to follow it, the pasted token would go there.
    const hostile = await hostileProducer();
    // No DEMO_PRODUCER_URL: the producer is the page's own host on PRODUCER_PORT (the CSP's
    // connect-src allows that port on any host).
    const config = loadConfig({ ...p.env, WS_AUTH_MODE: 'token', PRODUCER_PORT: new URL(p.producerUrl).port });
    const ws = await bootstrapWs(config, testLogger);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('pageerror', (err) => pageErrors.push(err.message));
      const res = await page.goto(`http://127.0.0.1:${ws.port}/?api=${encodeURIComponent(hostile.url)}`);
      await page.locator('#signin').waitFor({ state: 'visible' });
      const leaked = () => hostile.requests.map((r) => `${r.method} ${r.url} ${r.headers.authorization ?? ''}`);

      await page.locator('#token').fill(await p.token('user9'));
      await page.locator('#signin-form button[type="submit"]').click();
      await page.locator('#state[data-state="connected"]').waitFor();
      await p.post('/events', { type: 'FOLLOW', actorId: 'user1', targetId: 'user9' });
      await page.locator('#list li.item').filter({ hasText: 'follow' }).waitFor();
      // By now the page has asked for the user list and the first history page (with the token).
      assert.deepEqual(leaked(), [], 'nothing reached the server ?api= named');
      // Those went to the real producer instead: its user list, its stored history.
      await page.locator('#actor option').filter({ hasText: 'Ada (user1)' }).waitFor({ state: 'attached' });
      await page.locator('#list li.item').filter({ hasText: 'Ada' }).waitFor();
      await page.locator('#badge[data-count="1"]').waitFor();
      // Reading it goes through the producer's read API with the token: the stored status says so.
      await page.locator('#list li.item').first().click();
      await page.locator('#timeline li.done[data-stage="read"]').waitFor();
      await page.locator('#badge[data-count="0"]').waitFor({ state: 'attached' });
      const unread = await p.request('GET', '/users/user9/notifications/unread-count', 'user9');
      assert.equal(unread.body.unread, 0);

      // A typed intake key goes nowhere else either.
      await page.locator('#intake-key').fill('a-key-typed-by-the-user-0123456789abcdef');
      await page.locator('#send').click();
      await page
        .locator('#fire-result')
        .filter({ hasText: /Accepted|Refused/ })
        .waitFor();
      await page.reload();
      await page.locator('#state[data-state="connected"]').waitFor();
      await page.close();
      assert.deepEqual(leaked(), [], 'still nothing reached the server ?api= named');
      // And a second line of defence, should markup or script ever get in again.
      const csp = res?.headers()['content-security-policy'] ?? '';
      for (const directive of ["script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"])
        assert.ok(csp.includes(directive), `${directive} in ${csp}`);
      assert.match(csp, /connect-src 'self' [^;]*:\d+/, csp);
    } finally {
      await ws.close();
      await hostile.close();
    }
    assert.deepEqual(pageErrors, []);
  });

  it("shows a producer's names and error messages as text, never as markup (dev mode, ?api= honoured)", async () => {
    const hostile = await hostileProducer();
    try {
      const page = await open(`http://127.0.0.1:${p.wsPort}/?user=user8&api=${encodeURIComponent(hostile.url)}`);
      // Dev mode has no secret to lose: ?api= still picks the producer (the user list is the hostile one's).
      const options = page.locator('#actor option');
      await options.first().waitFor({ state: 'attached' });
      assert.deepEqual(await options.allTextContents(), ['<img src="x" id="injected-name"> (user1)']);
      assert.equal(await page.locator('#user').inputValue(), 'user8');
      assert.ok(hostile.requests.some((r) => r.method === 'GET' && r.url === '/users'));

      // A notification through the real pipeline; selecting it asks the hostile server for its timeline.
      await p.post('/events', { type: 'FOLLOW', actorId: 'user3', targetId: 'user8' });
      await page.locator('#list li.item').first().click();
      await page.locator('#timeline p.hint').filter({ hasText: 'Timeline unavailable' }).waitFor();
      assert.equal(
        await page.locator('#timeline p.hint').textContent(),
        'Timeline unavailable: <img src="x" id="injected-error">',
      );
      assert.equal(await page.locator('#injected-name, #injected-error, img[src="x"]').count(), 0, 'no markup parsed');
      await page.close();
    } finally {
      await hostile.close();
    }
    assert.deepEqual(pageErrors, []);
  });
});

/* global URLSearchParams, location, document, fetch, IntersectionObserver, sessionStorage, setInterval, setTimeout, history, queueMicrotask, Option */
// The demo inbox, built on the project's client (served by this ws-server as /client.js, from
// client/index.ts): the socket (AUTH, replay, resume, acks, unread count, reconnects) is the
// client's; the read API (history, read marks, preferences) is its HTTP helper's. This file only
// keeps what the user sees in step with the two.
import { createClient, createHttpClient } from '/client.js';
import { tokenSubject } from './format.js';
import { InboxView } from './inbox-view.js';
import { preferencesScreen } from './prefs.js';
import { producerApi } from './producer-api.js';
import { sampleEvent } from './samples.js';

const PAGE_SIZE = 20;
/** The bell's dropdown shows the newest few; "See all" leads to the inbox card. */
const DROPDOWN_SIZE = 6;
const STAGES = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'];
/** A pasted token lives as long as the tab (token mode only); never in the URL or localStorage. */
const TOKEN_STORAGE = 'pulse.demo.token';
const FALLBACK_USERS = [
  'Ada',
  'Grace',
  'Linus',
  'Margaret',
  'Ken',
  'Barbara',
  'Dennis',
  'Frances',
  'Edsger',
  'Radia',
].map((name, i) => ({ id: `user${i + 1}`, name }));
const TIMELINE_HINT = 'Select a notification to follow it through the pipeline.';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

/**
 * An element with `text` as text, never as markup: what the producer (or a page pointed at
 * another one) answers must not become elements or script in this page.
 */
function el(tag, text = '', className = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

const state = {
  config: null,
  producer: null,
  http: null,
  client: null,
  /** Unsubscribers of the current client's listeners. */
  offs: [],
  userId: null,
  token: null,
  items: new Map(),
  selected: null,
  filter: 'all',
  /**
   * The history API's next cursor per filter (the unread tab pages `status=unread`, so older
   * unread ones come without paging through read ones): undefined before the first page, null
   * after the last.
   */
  cursors: { all: undefined, unread: undefined },
  /** A page request in flight, per filter. */
  loading: { all: false, unread: false },
  unread: { count: 0, version: -1 },
  users: FALLBACK_USERS,
};
let intakeApiKey = '';
let prefs = null;

// ---- connection indicator and banner -------------------------------------------------------

function setConnection(kind, text) {
  const pill = $('state');
  pill.className = `pill pill-${kind}`;
  pill.dataset.state = kind;
  pill.textContent = text;
}

/** One banner; `kind` lets a reconnect clear what the connection said without hiding other news. */
function showBanner(text, kind = 'other') {
  $('banner').textContent = text;
  $('banner').hidden = !text;
  $('banner').dataset.kind = kind;
}

// ---- rendering ------------------------------------------------------------------------------

/** Elements of either view currently on screen: what the user has seen gets acknowledged. */
const onScreen = new Set();
const observer = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      if (e.isIntersecting) onScreen.add(e.target);
      else onScreen.delete(e.target);
    }
    ackOnScreen();
  },
  { threshold: 0.6 },
);

const views = [
  new InboxView($('list'), {
    onSelect: (id) => void select(id),
    observe: (li) => observer.observe(li),
    unobserve: forget,
  }),
  new InboxView($('dd-list'), {
    limit: DROPDOWN_SIZE,
    onSelect: (id) => {
      closeDropdown();
      void select(id, { reveal: true });
    },
    observe: (li) => observer.observe(li),
    unobserve: forget,
  }),
];
function forget(li) {
  observer.unobserve(li);
  onScreen.delete(li);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  const all = [...state.items.values()];
  const shown = state.filter === 'unread' ? all.filter((n) => !n.read) : all;
  const [inbox, dropdown] = views;
  const inInbox = inbox.render(shown, state.selected);
  const inDropdown = dropdown.render(shown, state.selected);
  const emptyText =
    state.filter === 'unread' ? 'No unread notifications.' : 'Nothing yet. Fire an event and watch it land here.';
  $('empty').textContent = emptyText;
  $('empty').hidden = inInbox > 0;
  $('dd-empty').textContent = state.filter === 'unread' ? 'You are all caught up.' : 'No notifications yet.';
  $('dd-empty').hidden = inDropdown > 0;
  for (const tab of document.querySelectorAll('.tab[data-filter]'))
    tab.setAttribute('aria-pressed', String(tab.dataset.filter === state.filter));
  const more = $('load-more');
  more.hidden = !state.userId || typeof state.cursors[state.filter] !== 'string';
  more.disabled = state.loading[state.filter];
  more.textContent = state.loading[state.filter] ? 'Loading…' : 'Load more';
  ackOnScreen();
}

/** The server's count, never one of our own: every tab of the user shows the same number. */
function setUnread({ count, version }) {
  if (!Number.isFinite(count) || (Number.isFinite(version) && version <= state.unread.version)) return;
  state.unread = { count, version: Number.isFinite(version) ? version : state.unread.version };
  drawBadge();
  // Nothing unread anywhere: whatever this tab still shows as unread was read elsewhere (another
  // tab's "mark all read"). A count above zero cannot say which ones, so it changes nothing here.
  if (count === 0) {
    for (const n of state.items.values()) n.read = true;
    scheduleRender();
  }
}

function drawBadge() {
  const { count } = state.unread;
  const badge = $('badge');
  badge.textContent = count > 99 ? '99+' : String(count);
  badge.dataset.count = String(count);
  badge.hidden = count === 0;
  $('bell').setAttribute('aria-label', count ? `Notifications, ${count} unread` : 'Notifications');
  document.title = count ? `(${count}) Pulse · live inbox` : 'Pulse · live inbox';
}

// ---- the notifications -----------------------------------------------------------------------

/** A notification from the socket: new, or a grown aggregate (same id, higher version). */
function fromSocket(n) {
  const known = state.items.get(n.id);
  const same = known && known.version >= n.version;
  const item = {
    ...known,
    ...(same ? {} : n),
    // A grown aggregate is news again: unread, and pending until acknowledged again.
    read: same ? known.read : n.status === 'read',
    acked: same ? known.acked : false,
    flash: !same,
  };
  state.items.set(n.id, item);
  scheduleRender();
  // Long enough for the highlight's animation (style.css) to play once.
  if (item.flash)
    setTimeout(() => {
      item.flash = false;
      scheduleRender();
    }, 1000);
  if (state.selected === n.id && !same) void loadTimeline(n.id);
}

/** A page of the history API: stored state, merged with what the socket already brought. */
function fromHistory(stored) {
  const known = state.items.get(stored.id);
  if (known && known.version > stored.version) {
    known.read ||= stored.status === 'read';
    return;
  }
  state.items.set(stored.id, {
    ...known,
    ...stored,
    read: Boolean(known?.read) || stored.status === 'read',
    acked: Boolean(known?.acked) || stored.status !== 'undelivered',
    flash: false,
  });
}

/** Acknowledges what is on screen and not yet acknowledged, while the page is looked at. */
function ackOnScreen() {
  // The client keeps an ack across reconnects until the server confirms it: no need to wait for 'open'.
  if (document.visibilityState !== 'visible' || !state.client) return;
  let changed = false;
  for (const li of onScreen) {
    const n = state.items.get(li.dataset.id);
    if (!n || n.acked) continue;
    state.client.ack(n.id);
    n.acked = true;
    changed = true;
  }
  if (changed) scheduleRender();
}

async function loadPage({ first = false } = {}) {
  const filter = state.filter;
  const cursor = state.cursors[filter];
  if (state.loading[filter] || (!first && typeof cursor !== 'string')) return;
  const userId = state.userId;
  const loading = state.loading;
  loading[filter] = true;
  scheduleRender();
  try {
    const page = await state.http.history(userId, {
      limit: PAGE_SIZE,
      ...(filter === 'unread' ? { unread: true } : {}),
      ...(first ? {} : { cursor }),
    });
    if (userId !== state.userId) return;
    for (const n of page.items) fromHistory(n);
    // A refresh of the first page (an incomplete resume) must not rewind where "load more" is.
    if (!first || state.cursors[filter] === undefined) state.cursors[filter] = page.nextCursor ?? null;
  } catch (err) {
    showBanner(`History unavailable (${err.message}); live notifications still arrive.`);
  } finally {
    loading[filter] = false;
    scheduleRender();
  }
}

async function select(id, { reveal = false } = {}) {
  state.selected = id;
  scheduleRender();
  if (reveal) queueMicrotask(() => views[0].items.get(id)?.scrollIntoView({ block: 'nearest' }));
  const n = state.items.get(id);
  void loadTimeline(id);
  if (!n || n.read) return;
  try {
    await state.http.markRead(state.userId, id);
    n.read = true;
    scheduleRender();
    await loadTimeline(id);
  } catch (err) {
    showBanner(`Could not mark read: ${err.message}`);
  }
}

async function loadTimeline(id) {
  const box = $('timeline');
  try {
    const t = await state.http.timeline(id);
    if (state.selected !== id) return;
    const list = el('ol');
    for (const s of STAGES) {
      const at = t.stages[s];
      const li = el('li', '', at ? 'done' : '');
      li.dataset.stage = s;
      li.append(el('strong', s), el('br'), el('span', at ? new Date(at).toLocaleTimeString() : 'pending', 'when'));
      list.append(li);
    }
    box.replaceChildren(list);
  } catch (err) {
    if (state.selected === id) box.replaceChildren(el('p', `Timeline unavailable: ${err.message}`, 'hint'));
  }
}

async function markAllRead() {
  try {
    await state.http.markAllRead(state.userId);
    for (const n of state.items.values()) n.read = true;
    scheduleRender();
  } catch (err) {
    showBanner(`Could not mark all read: ${err.message}`);
  }
}

// ---- signing in and switching users ----------------------------------------------------------

function describeState({ state: s, code, reason }) {
  switch (s) {
    case 'connecting':
    case 'authenticating':
      return setConnection('connecting', 'connecting…');
    case 'open':
      if ($('banner').dataset.kind === 'connection') showBanner('');
      return setConnection('connected', 'live');
    case 'reconnecting':
      return setConnection('reconnecting', 'reconnecting…');
    case 'closed':
      setConnection('error', code ? 'refused' : 'offline');
      if (code) {
        showBanner(`The ws-server closed the connection (${code}${reason ? ` ${reason}` : ''}).`, 'connection');
        if (state.config.authMode !== 'dev') $('signin').hidden = false;
      }
  }
}

async function switchUser(userId) {
  const old = state.client;
  for (const off of state.offs) off();
  state.offs = [];
  state.client = null;
  Object.assign(state, {
    userId,
    items: new Map(),
    selected: null,
    cursors: { all: undefined, unread: undefined },
    loading: { all: false, unread: false },
    unread: { count: 0, version: -1 },
  });
  for (const view of views) view.clear();
  drawBadge();
  $('timeline').replaceChildren(el('p', TIMELINE_HINT, 'hint'));
  fillUsers();
  if (state.config.authMode === 'dev') {
    history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), user: userId })}`);
  }
  await old?.close();
  if (userId !== state.userId) return;

  const getToken = state.token ? () => state.token : undefined;
  state.http = createHttpClient({ baseUrl: state.apiBase, ...(getToken ? { getToken } : {}) });
  const client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`,
    ...(getToken ? { getToken } : { userId }),
    maxAckBatch: state.config.maxAckBatch,
  });
  state.client = client;
  state.offs = [
    client.on('state', (s) => {
      if (state.client === client) describeState(s);
    }),
    client.on('notification', (n) => {
      if (state.client === client) fromSocket(n);
    }),
    client.on('unread', (u) => {
      if (state.client === client) setUnread(u);
    }),
    client.on('resume', ({ recovered }) => {
      // More was missed than the replay carries: the newest page of the history fills the gap.
      if (state.client === client && recovered === false) void loadPage({ first: true });
    }),
    client.on('error', ({ code, message }) => {
      if (state.client === client) showBanner(`${code}: ${message}`, 'connection');
    }),
  ];
  await loadPage({ first: true });
}

/** Names and ids come from the producer's /users: text of an <option>, never markup. */
const userOption = (u) => new Option(`${u.name} (${u.id})`, u.id);

function fillUsers() {
  const others = state.users.filter((u) => u.id !== state.userId);
  $('actor').replaceChildren(...others.map(userOption));
  const listed = state.users.some((u) => u.id === state.userId)
    ? state.users
    : [...state.users, { id: state.userId, name: state.userId }];
  const selectable = state.config.authMode === 'dev' ? listed : listed.filter((u) => u.id === state.userId);
  $('user').replaceChildren(...selectable.map(userOption));
  if (state.userId) $('user').value = state.userId;
  $('user').disabled = state.config.authMode !== 'dev';
}

async function signIn(token) {
  const userId = tokenSubject(token);
  if (!userId) {
    showBanner('That is not a JWT with a subject (its `sub` is the userId).');
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_STORAGE, token);
  $('signin').hidden = true;
  $('signout').hidden = false;
  showBanner('');
  await switchUser(userId);
}

// ---- the dropdown ----------------------------------------------------------------------------

function openDropdown() {
  $('dropdown').hidden = false;
  $('bell').setAttribute('aria-expanded', 'true');
  scheduleRender();
}
function closeDropdown() {
  $('dropdown').hidden = true;
  $('bell').setAttribute('aria-expanded', 'false');
}

$('bell').addEventListener('click', () => ($('dropdown').hidden ? openDropdown() : closeDropdown()));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('dropdown').hidden) {
    closeDropdown();
    $('bell').focus();
  }
});
document.addEventListener('click', (e) => {
  if (!$('dropdown').hidden && !e.target.closest('.bell-wrap')) closeDropdown();
});
$('dd-all').addEventListener('click', () => {
  closeDropdown();
  $('inbox').scrollIntoView({ behavior: 'smooth' });
});
$('dd-read-all').addEventListener('click', () => void markAllRead());
const openPrefs = () => {
  closeDropdown();
  if (state.userId)
    void prefs.open({
      get: () => state.http.getPreferences(state.userId),
      put: (p) => state.http.putPreferences(state.userId, p),
    });
};
$('dd-prefs').addEventListener('click', openPrefs);
$('open-prefs').addEventListener('click', openPrefs);

// ---- the rest of the controls ----------------------------------------------------------------

for (const tab of document.querySelectorAll('.tab[data-filter]')) {
  tab.addEventListener('click', () => {
    state.filter = tab.dataset.filter;
    scheduleRender();
    if (state.userId && state.cursors[state.filter] === undefined) void loadPage({ first: true });
  });
}
$('read-all').addEventListener('click', () => void markAllRead());
$('load-more').addEventListener('click', () => void loadPage());
$('user').addEventListener('change', (e) => void switchUser(e.target.value));
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_STORAGE);
  location.reload();
});
$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void signIn($('token').value.trim());
});
document.addEventListener('visibilitychange', ackOnScreen);
// "just now" becomes "2 min ago" without anything arriving.
setInterval(scheduleRender, 30_000);

$('fire').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('send');
  button.disabled = true;
  try {
    const key = intakeApiKey || $('intake-key').value.trim();
    const result = await state.producer.fire(sampleEvent($('type').value, $('actor').value, state.userId), key);
    $('fire-result').textContent = `Accepted · event ${result.eventId.slice(0, 13)}…`;
  } catch (err) {
    $('fire-result').textContent = `Refused: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

// ---- start -----------------------------------------------------------------------------------

/**
 * DEMO_PRODUCER_URL, else this host's producer port. `?api=` (a producer elsewhere) comes first
 * only where the server allows it (apiOverride: dev auth mode outside production): the page sends
 * the user's token and a typed intake key to this address, so elsewhere a link could name a
 * server of its own and collect them.
 */
function producerBase(config) {
  const url =
    (config.apiOverride === true && params.get('api')) ||
    config.producerUrl ||
    `${location.protocol}//${location.hostname}:${config.producerPort ?? 3000}`;
  return url.replace(/\/+$/, '');
}

async function start() {
  const config = await fetch('demo-config.json')
    .then((r) => r.json())
    .catch(() => ({ authMode: 'unknown' }));
  state.config = config;
  state.apiBase = producerBase(config);
  state.producer = producerApi(state.apiBase);
  prefs = preferencesScreen({ mutableTypes: config.mutableTypes ?? [] });
  if (typeof config.intakeApiKey === 'string') intakeApiKey = config.intakeApiKey;
  $('key-field').hidden = Boolean(intakeApiKey);
  try {
    const users = await state.producer.users();
    if (users.length) state.users = users;
  } catch {
    showBanner(
      `Cannot reach the producer at ${state.apiBase} (start it or set DEMO_PRODUCER_URL${config.apiOverride ? ', or pass ?api=http://host:port' : ''}).`,
    );
  }
  fillUsers();
  if (config.authMode !== 'dev') {
    // Token mode: the page signs in with a user's JWT instead of picking a user.
    $('signin').hidden = false;
    setConnection('idle', 'signed out');
    const saved = sessionStorage.getItem(TOKEN_STORAGE);
    if (saved) await signIn(saved);
    return;
  }
  const wanted = params.get('user');
  await switchUser(state.users.some((u) => u.id === wanted) ? wanted : state.users[0].id);
}

void start();

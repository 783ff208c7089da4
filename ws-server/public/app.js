/* global URLSearchParams, location, document, fetch, CSS, IntersectionObserver, WebSocket, setTimeout, history */
// The demo inbox: one raw WebSocket to this ws-server (docs/protocol.md) and the producer's
// HTTP API (docs/http-api.md) for history, read state, timelines and sample events.
const params = new URLSearchParams(location.search);
const API = (params.get('api') || `${location.protocol}//${location.hostname}:3000`).replace(/\/$/, '');
const FALLBACK_USERS = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Frances', 'Edsger', 'Radia']
  .map((name, i) => ({ id: `user${i + 1}`, name }));
// Plain symbols every system font has (headless Linux browsers often lack colour emoji).
const ICONS = { LIKE: '♥', COMMENT: '✎', REPLY: '↩', MENTION: '@', FOLLOW: '+', SHARE: '⇄', SECURITY: '⚠', ORDER: '▣', PAYMENT: '€', PROMO: '★' };
const STAGES = ['accepted', 'buffered', 'sent', 'acked', 'persisted', 'read'];

const $ = (id) => document.getElementById(id);
const state = { userId: null, socket: null, items: new Map(), selected: null, retry: 0, lastSeq: 0 };
// The server's WS_MAX_ACK_BATCH (from demo-config.json; 100 until it is known, under any sane limit).
let maxAckBatch = 100;
// The producer's intake key for "Send to me": served by demo-config.json in development, else
// typed into the form (events are the backend's to send, so the producer wants a key).
let intakeApiKey = '';

function setConnection(kind, text) {
  const pill = $('state');
  pill.className = `pill pill-${kind}`;
  pill.dataset.state = kind;
  pill.textContent = text;
}

function showBanner(text) {
  $('banner').textContent = text;
  $('banner').hidden = !text;
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || `${res.status}`);
  return data;
}

function priorityClass(priority) {
  if (priority >= 9) return 'high';
  if (priority <= 1) return 'low';
  return 'normal';
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function updateBadge() {
  const unread = [...state.items.values()].filter((n) => !n.read).length;
  const badge = $('badge');
  badge.textContent = unread > 99 ? '99+' : String(unread);
  badge.dataset.count = String(unread);
  badge.hidden = unread === 0;
  $('empty').hidden = state.items.size > 0;
  document.title = unread ? `(${unread}) Pulse · live inbox` : 'Pulse · live inbox';
}

function render(n, { flash = false } = {}) {
  let li = document.querySelector(`li[data-id="${CSS.escape(n.id)}"]`);
  if (!li) {
    li = document.createElement('li');
    li.dataset.id = n.id;
    li.addEventListener('click', () => select(n.id));
    const list = $('list');
    // Newest on top; a higher seq is newer.
    const after = [...list.children].find((el) => Number(el.dataset.seq) < n.seq);
    list.insertBefore(li, after || null);
    observer.observe(li);
  }
  const prio = priorityClass(n.priority);
  li.className = `item prio-${prio}${n.read ? '' : ' unread'}${state.selected === n.id ? ' selected' : ''}${flash ? ' flash' : ''}`;
  li.dataset.seq = String(n.seq);
  li.dataset.version = String(n.version);
  li.dataset.acked = String(Boolean(n.acked));
  li.dataset.read = String(Boolean(n.read));
  const tags = [];
  if (prio === 'high') tags.push('<span class="tag tag-high">Important</span>');
  if (prio === 'low') tags.push('<span class="tag tag-low">Promo</span>');
  if (n.actorCount > 1) tags.push(`<span class="tag tag-agg">${n.actorCount} people</span>`);
  li.innerHTML = `
    <div class="avatar">${ICONS[n.type] || '•'}</div>
    <div><div class="msg"></div><div class="meta"><span>${ago(n.createdAt)}</span>${tags.join('')}</div></div>
    <div class="status ${n.acked ? 'acked' : ''}">${n.read ? '' : '<span class="dot" title="unread"></span> '}${n.acked ? '✓ received' : 'new'}</div>`;
  li.querySelector('.msg').textContent = n.message;
  updateBadge();
}

function upsert(incoming, origin) {
  const known = state.items.get(incoming.id);
  if (known && known.version >= incoming.version && origin === 'socket') {
    if (!known.acked) ack([incoming.id]);
    return;
  }
  // A grown aggregate (same id, higher version) is pending again until acknowledged again.
  const acked = origin === 'history' ? incoming.status !== 'undelivered' : false;
  const merged = { ...known, ...incoming, acked, read: Boolean(known?.read && origin === 'history') || incoming.status === 'read' };
  state.items.set(incoming.id, merged);
  state.lastSeq = Math.max(state.lastSeq, incoming.seq || 0);
  render(merged, { flash: Boolean(known) && origin === 'socket' });
  if (known && origin === 'socket') ack([incoming.id]);
  if (state.selected === incoming.id) void loadTimeline(incoming.id);
}

// ACK on view: a notification is acknowledged once it is actually on screen.
const observer = new IntersectionObserver((entries) => {
  const ids = entries.filter((e) => e.isIntersecting).map((e) => e.target.dataset.id)
    .filter((id) => state.items.get(id) && !state.items.get(id).acked);
  if (ids.length) ack(ids);
}, { threshold: 0.6 });

// A long inbox coming back into view can hold more unacked ids than one ACK frame may carry:
// the server answers a larger batch with ACK_BATCH_TOO_LARGE and acknowledges none of them.
function ack(ids) {
  if (document.visibilityState !== 'visible' || state.socket?.readyState !== WebSocket.OPEN) return;
  for (let i = 0; i < ids.length; i += maxAckBatch) {
    state.socket.send(JSON.stringify({ type: 'ACK', notificationIds: ids.slice(i, i + maxAckBatch) }));
  }
}

function onFrame(frame) {
  switch (frame.type) {
    case 'AUTH_OK':
      state.retry = 0;
      setConnection('connected', 'live');
      return;
    case 'NOTIFICATION':
      upsert(frame.notification, 'socket');
      return;
    case 'ACKED':
      for (const id of frame.ids) {
        const n = state.items.get(id);
        if (n) { n.acked = true; render(n); }
      }
      return;
    case 'ERROR':
      showBanner(`Server says ${frame.code}: ${frame.message}`);
      return;
  }
}

function connect() {
  const userId = state.userId;
  setConnection('connecting', 'connecting…');
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`);
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ type: 'AUTH', userId, lastSeq: state.lastSeq || undefined }));
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = (event) => {
    if (state.socket !== socket) return; // replaced by a user switch
    setConnection('error', event.code === 4401 ? 'refused' : 'reconnecting…');
    if (event.code === 4401) return;
    state.retry += 1;
    setTimeout(() => { if (state.socket === socket) connect(); }, Math.min(10_000, 500 * 2 ** state.retry));
  };
}

async function loadHistory() {
  try {
    const page = await api('GET', `/users/${state.userId}/notifications?limit=30`);
    for (const n of page.notifications.reverse()) upsert(n, 'history');
  } catch (err) {
    showBanner(`History unavailable (${err.message}); live notifications still arrive.`);
  }
}

async function switchUser(userId) {
  state.userId = userId;
  state.items.clear();
  state.selected = null;
  state.lastSeq = 0;
  $('list').innerHTML = '';
  $('timeline').innerHTML = '<p class="hint">Select a notification to follow it through the pipeline.</p>';
  const old = state.socket;
  state.socket = null;
  old?.close();
  updateBadge();
  fillActors();
  history.replaceState(null, '', `?${new URLSearchParams({ ...Object.fromEntries(params), user: userId })}`);
  await loadHistory();
  connect();
}

async function select(id) {
  state.selected = id;
  for (const n of state.items.values()) render(n);
  const n = state.items.get(id);
  if (n && !n.read) {
    try {
      await api('PATCH', `/notifications/${encodeURIComponent(id)}/read`);
      n.read = true;
      render(n);
    } catch (err) {
      showBanner(`Could not mark read: ${err.message}`);
    }
  }
  await loadTimeline(id);
}

async function loadTimeline(id) {
  const box = $('timeline');
  try {
    const t = await api('GET', `/notifications/${encodeURIComponent(id)}/timeline`);
    if (state.selected !== id) return;
    box.innerHTML = `<ol>${STAGES.map((s) => {
      const at = t.stages[s];
      return `<li class="${at ? 'done' : ''}" data-stage="${s}"><strong>${s}</strong><br><span class="when">${at ? new Date(at).toLocaleTimeString() : 'pending'}</span></li>`;
    }).join('')}</ol>`;
  } catch (err) {
    box.innerHTML = `<p class="hint">Timeline unavailable: ${err.message}</p>`;
  }
}

let users = FALLBACK_USERS;
function fillActors() {
  $('actor').innerHTML = users.filter((u) => u.id !== state.userId)
    .map((u) => `<option value="${u.id}">${u.name} (${u.id})</option>`).join('');
}

function sampleEvent(type, actorId, targetId) {
  const n = Math.floor(Math.random() * 20) + 1;
  const ref = `${Date.now().toString(36)}`;
  const base = { type, targetId, actorId };
  switch (type) {
    case 'LIKE': case 'MENTION': case 'SHARE': return { ...base, postId: `post${n}` };
    case 'COMMENT': return { ...base, postId: `post${n}`, text: 'Great write-up, thanks!' };
    case 'FOLLOW': return base;
    case 'SECURITY': return { type, targetId, text: 'New sign-in from Firefox on Linux' };
    case 'ORDER': return { type, targetId, orderId: `order-${ref}`, text: 'has shipped' };
    case 'PAYMENT': return { type, targetId, paymentId: `pay-${ref}`, amount: 42.5, currency: 'EUR' };
    case 'PROMO': return { type, targetId, campaignId: `spring-${ref}`, text: '20% off all plans this week' };
  }
  return base;
}

$('fire').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('send');
  button.disabled = true;
  try {
    const key = intakeApiKey || $('intake-key').value.trim();
    const result = await api('POST', '/events', sampleEvent($('type').value, $('actor').value, state.userId),
      key ? { authorization: `ApiKey ${key}` } : {});
    $('fire-result').textContent = `Accepted · event ${result.eventId.slice(0, 13)}…`;
  } catch (err) {
    $('fire-result').textContent = `Refused: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

$('read-all').addEventListener('click', async () => {
  try {
    await api('POST', `/users/${state.userId}/notifications/read-all`);
    for (const n of state.items.values()) { n.read = true; render(n); }
  } catch (err) {
    showBanner(`Could not mark all read: ${err.message}`);
  }
});

$('user').addEventListener('change', (e) => void switchUser(e.target.value));
document.addEventListener('visibilitychange', () => {
  const unacked = [...state.items.values()].filter((n) => !n.acked).map((n) => n.id);
  if (unacked.length) ack(unacked);
});

async function start() {
  const config = await fetch('demo-config.json').then((r) => r.json()).catch(() => ({ authMode: 'unknown' }));
  if (Number.isInteger(config.maxAckBatch) && config.maxAckBatch > 0) maxAckBatch = config.maxAckBatch;
  if (typeof config.intakeApiKey === 'string') intakeApiKey = config.intakeApiKey;
  $('key-field').hidden = Boolean(intakeApiKey);
  try {
    users = (await api('GET', '/users')).users;
    if (!users.length) users = FALLBACK_USERS;
  } catch {
    showBanner(`Cannot reach the producer at ${API} (start it, or pass ?api=http://host:port).`);
  }
  const wanted = params.get('user');
  state.userId = users.some((u) => u.id === wanted) ? wanted : users[0].id;
  $('user').innerHTML = users.map((u) => `<option value="${u.id}">${u.name} (${u.id})</option>`).join('');
  $('user').value = state.userId;
  if (config.authMode !== 'dev') {
    setConnection('error', 'dev mode needed');
    showBanner('This demo signs in with a bare userId, so the ws-server must run with WS_AUTH_MODE=dev (npm run dev sets it).');
    return;
  }
  await switchUser(state.userId);
}

void start();

/* global document */
// One rendering of the inbox: notifications grouped by day, newest first. The page has two, the
// inbox card and the bell's dropdown; both draw from the same state. Elements are kept per id
// and moved rather than rebuilt, so the IntersectionObserver that ACKs what is on screen keeps
// watching them and a click never lands on a node that was just replaced.
import { ago, groupByDay, newestFirst, priorityClass } from './format.js';

// Plain symbols every system font has (headless Linux browsers often lack colour emoji).
const ICONS = {
  LIKE: '♥',
  COMMENT: '✎',
  REPLY: '↩',
  MENTION: '@',
  FOLLOW: '+',
  SHARE: '⇄',
  POST: '▤',
  SECURITY: '⚠',
  ORDER: '▣',
  PAYMENT: '€',
  PROMO: '★',
};

function fill(li, n, selected) {
  const prio = priorityClass(n.priority);
  const when = ago(n.createdAt);
  // Only what changed is redrawn: a redraw would restart the flash animation of every item.
  const signature = `${n.version}|${n.read}|${n.acked}|${selected}|${when}|${n.flash}`;
  if (li.dataset.signature === signature) return;
  li.dataset.signature = signature;
  li.className = `item prio-${prio}${n.read ? '' : ' unread'}${selected ? ' selected' : ''}${n.flash ? ' flash' : ''}`;
  li.dataset.seq = String(n.seq ?? '');
  li.dataset.version = String(n.version);
  li.dataset.acked = String(Boolean(n.acked));
  li.dataset.read = String(Boolean(n.read));
  li.dataset.type = n.type;
  li.tabIndex = 0;
  const tags = [];
  if (prio === 'high') tags.push('<span class="tag tag-high">Important</span>');
  if (prio === 'low') tags.push('<span class="tag tag-low">Promo</span>');
  if (n.actorCount > 1) tags.push(`<span class="tag tag-agg">${Number(n.actorCount)} people</span>`);
  li.innerHTML = `
    <div class="avatar" aria-hidden="true"></div>
    <div class="body"><div class="msg"></div><div class="meta"><time></time>${tags.join('')}</div></div>
    <div class="status${n.acked ? ' acked' : ''}">${n.read ? '' : '<span class="dot" title="unread"></span> '}${n.acked ? '✓ received' : 'new'}</div>`;
  li.querySelector('.avatar').textContent = ICONS[n.type] || '•';
  li.querySelector('.msg').textContent = n.message;
  const time = li.querySelector('time');
  time.dateTime = n.createdAt;
  time.textContent = when;
}

export class InboxView {
  /**
   * @param root element the day groups go into
   * @param options.limit how many notifications this view shows at most (the dropdown: a few)
   * @param options.onSelect called with an id when one is clicked or activated with the keyboard
   * @param options.observe / options.unobserve hooks for the ACK-on-view observer
   */
  constructor(root, { limit = Infinity, onSelect, observe, unobserve }) {
    this.root = root;
    this.limit = limit;
    this.observe = observe;
    this.unobserve = unobserve;
    this.items = new Map();
    this.groups = new Map();
    const pick = (event) => {
      const li = event.target.closest('li.item');
      if (li && this.root.contains(li)) onSelect(li.dataset.id);
    };
    root.addEventListener('click', pick);
    root.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') pick(event);
    });
  }

  /** Draws `notifications` (already filtered); returns how many it shows. */
  render(notifications, selected) {
    const shown = [...notifications].sort(newestFirst).slice(0, this.limit);
    const groups = groupByDay(shown);
    const keepItems = new Set();
    const keepGroups = new Set();
    let previous = null;
    for (const group of groups) {
      keepGroups.add(group.key);
      let section = this.groups.get(group.key);
      if (!section) {
        section = document.createElement('section');
        section.className = 'day';
        section.dataset.day = group.key;
        section.innerHTML = '<h3 class="day-label"></h3><ul class="list"></ul>';
        this.groups.set(group.key, section);
      }
      section.querySelector('.day-label').textContent = group.label;
      // Insert in order, touching the DOM only where the order differs.
      const expectedSection = previous ? previous.nextSibling : this.root.firstChild;
      if (expectedSection !== section) this.root.insertBefore(section, expectedSection);
      previous = section;
      const ul = section.querySelector('ul');
      let prevLi = null;
      for (const n of group.items) {
        keepItems.add(n.id);
        let li = this.items.get(n.id);
        if (!li) {
          li = document.createElement('li');
          li.dataset.id = n.id;
          this.items.set(n.id, li);
          this.observe?.(li);
        }
        fill(li, n, selected === n.id);
        const expected = prevLi ? prevLi.nextSibling : ul.firstChild;
        if (expected !== li) ul.insertBefore(li, expected);
        prevLi = li;
      }
    }
    for (const [id, li] of this.items) {
      if (keepItems.has(id)) continue;
      this.unobserve?.(li);
      li.remove();
      this.items.delete(id);
    }
    for (const [key, section] of this.groups) {
      if (keepGroups.has(key)) continue;
      section.remove();
      this.groups.delete(key);
    }
    return shown.length;
  }

  /** Forgets everything (another user signed in). */
  clear() {
    for (const li of this.items.values()) this.unobserve?.(li);
    this.items.clear();
    this.groups.clear();
    this.root.replaceChildren();
  }
}

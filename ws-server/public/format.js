/* global atob, TextDecoder */
// Pure helpers of the demo inbox (no DOM, no network), so test/unit/demo-format.test.ts runs
// them in Node.

/** Tag class of a notification's priority (shared/event-types.ts: 9 transactional, 1 promotional). */
export function priorityClass(priority) {
  if (priority >= 9) return 'high';
  if (priority <= 1) return 'low';
  return 'normal';
}

/** "just now", "5 min ago", "3 h ago", else the time of day: the day itself is the group's heading. */
export function ago(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 6 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** The local calendar day of an instant, `YYYY-MM-DD`: the key notifications are grouped by. */
export function dayKey(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A group's heading: Today, Yesterday, else the weekday and date (with the year if not this one). */
export function dayLabel(key, now = Date.now()) {
  const [y, m, d] = key.split('-').map(Number);
  const day = new Date(y, m - 1, d);
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  // Calendar days apart, counted in local dates so a daylight-saving shift is not a day.
  const diff = Math.round(
    (Date.UTC(today.getFullYear(), today.getMonth(), today.getDate()) - Date.UTC(y, m - 1, d)) / 86_400_000,
  );
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  const options = { weekday: 'long', month: 'long', day: 'numeric' };
  if (day.getFullYear() !== today.getFullYear()) options.year = 'numeric';
  return day.toLocaleDateString(undefined, options);
}

/** Newest first: by creation time, then by seq (the server's order within one user). */
export function newestFirst(a, b) {
  const t = new Date(b.createdAt).getTime() - new Date(a.createdAt).getTime();
  return t !== 0 ? t : (b.seq ?? 0) - (a.seq ?? 0);
}

/** Notifications (any order) as `[{ key, label, items }]`, newest day first, newest first within a day. */
export function groupByDay(items, now = Date.now()) {
  const groups = new Map();
  for (const n of [...items].sort(newestFirst)) {
    const key = dayKey(n.createdAt);
    if (!groups.has(key)) groups.set(key, { key, label: dayLabel(key, now), items: [] });
    groups.get(key).items.push(n);
  }
  return [...groups.values()];
}

/**
 * The `sub` of a JWT, read without verifying it: the page only needs to know whose inbox to
 * open; the servers verify the token on every use.
 */
export function tokenSubject(token) {
  const part = String(token).split('.')[1];
  if (!part) return undefined;
  try {
    const binary = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    // atob gives one character per byte; the JSON is UTF-8.
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const sub = JSON.parse(json).sub;
    return typeof sub === 'string' && sub ? sub : undefined;
  } catch {
    return undefined;
  }
}

import type { WindowSample } from './tracker.js';

/**
 * A hand-written SVG a person can open in a browser: latency percentiles per second on top,
 * throughput (offered vs delivered per second) below, sharing the time axis.
 */
const W = 960;
const PANEL_H = 230;
const LEFT = 70;
const RIGHT = 20;
const TOP = 50;
const GAP = 70;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

function panel(title: string, unit: string, top: number, xs: number[], series: Series[], xMax: number): string {
  const plotW = W - LEFT - RIGHT;
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null))));
  const x = (t: number) => LEFT + (t / xMax) * plotW;
  const y = (v: number) => top + PANEL_H - (v / yMax) * PANEL_H;
  const parts: string[] = [`<text x="${LEFT}" y="${top - 12}" font-size="14" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${+v.toFixed(2)}</text>`);
  }
  for (let i = 0; i <= 10; i++) {
    const t = (xMax / 10) * i;
    parts.push(
      `<text x="${x(t)}" y="${top + PANEL_H + 16}" font-size="11" text-anchor="middle">${+t.toFixed(1)}</text>`,
    );
  }
  parts.push(`<text x="${W - RIGHT}" y="${top + PANEL_H + 32}" font-size="11" text-anchor="end">seconds</text>`);
  parts.push(
    `<text x="14" y="${top + PANEL_H / 2}" font-size="11" transform="rotate(-90 14 ${top + PANEL_H / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  parts.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
  series.forEach((s, i) => {
    const points = s.values.map((v, j) => (v === null ? null : `${x(xs[j] ?? 0).toFixed(1)},${y(v).toFixed(1)}`));
    // Gaps (seconds with no delivery) split the line instead of drawing through zero.
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1)
        parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${run.join(' ')}"/>`);
      if (run.length === 1) {
        const [cx, cy] = run[0]!.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${s.color}"/>`);
      }
      run = [];
    };
    for (const p of points) {
      if (p === null) flush();
      else run.push(p);
    }
    flush();
    const lx = LEFT + 10 + i * 150;
    parts.push(`<rect x="${lx}" y="${top + 8}" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${top + 18}" font-size="12">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

export function renderChart(title: string, subtitle: string, windows: WindowSample[]): string {
  const xs = windows.map((w) => w.t);
  const xMax = Math.max(1, ...xs);
  const latency = panel(
    'POST accepted → NOTIFICATION received, per second',
    'ms',
    TOP + 30,
    xs,
    [
      { name: 'p50', color: '#2b8a3e', values: windows.map((w) => w.p50) },
      { name: 'p90', color: '#e67700', values: windows.map((w) => w.p90) },
      { name: 'p99', color: '#c92a2a', values: windows.map((w) => w.p99) },
    ],
    xMax,
  );
  const throughput = panel(
    'Throughput',
    'per second',
    TOP + 30 + PANEL_H + GAP,
    xs,
    [
      { name: 'sent/s', color: '#868e96', values: windows.map((w) => w.sent) },
      { name: 'delivered/s', color: '#1c7ed6', values: windows.map((w) => w.delivered) },
      { name: 'backlog', color: '#ae3ec9', values: windows.map((w) => w.backlog) },
    ],
    xMax,
  );
  const height = TOP + 30 + 2 * PANEL_H + GAP + 50;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${LEFT}" y="26" font-size="18" font-weight="bold">${esc(title)}</text>
<text x="${LEFT}" y="46" font-size="12" fill="#555">${esc(subtitle)}</text>
${latency}
${throughput}
</svg>
`;
}

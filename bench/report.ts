import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { renderChart } from './chart.js';
import { formatOperations, type OperationReport } from './operations.js';
import type { WindowSample } from './tracker.js';

const run = promisify(execFile);

export function machine() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export interface BenchReport {
  scenario: string;
  startedAt: string;
  machine: ReturnType<typeof machine>;
  /** `--aged-notifications`: documents of other users loaded before the scenario, and how long that took. */
  agedDatabase?: { notifications: number; loadMs: number };
  options: object;
  result: object;
  windows: WindowSample[];
}

export interface WrittenFiles {
  json: string;
  /** Absent when the scenario has no time series (connections). */
  svg?: string;
  png?: string;
}

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** Writes `<scenario>-<date>.json` and `.svg`; a PNG too when a headless Chromium is at hand. */
export async function writeReport(outDir: string, report: BenchReport, subtitle: string): Promise<WrittenFiles> {
  await mkdir(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const base = resolve(outDir, `${report.scenario}-${stamp}`);
  const files: WrittenFiles = { json: `${base}.json` };
  await writeFile(files.json, `${JSON.stringify(report, null, 2)}\n`);
  if (report.windows.length === 0) return files;
  files.svg = `${base}.svg`;
  await writeFile(files.svg, renderChart(`npm run bench -- --scenario ${report.scenario}`, subtitle, report.windows));
  const chromium = CHROMIUM.find((p) => existsSync(p));
  if (chromium) {
    try {
      await run(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          `--screenshot=${base}.png`,
          '--window-size=960,660',
          `file://${files.svg}`,
        ],
        { timeout: 30_000 },
      );
      files.png = `${base}.png`;
    } catch {
      // The SVG is the chart; the PNG is a convenience.
    }
  }
  return files;
}

/** The JSON, flattened into a few readable lines for the terminal. */
export function printSummary(report: BenchReport, write: (line: string) => void): void {
  write('');
  write(`=== ${report.scenario} — ${report.machine.cores} cores, ${report.machine.cpuModel}`);
  if (report.agedDatabase) {
    const { notifications, loadMs } = report.agedDatabase;
    write(
      `    aged database: ${notifications} stored notifications of other users, loaded in ${(loadMs / 1000).toFixed(1)} s`,
    );
  }
  const operations = (report.result as { operations?: OperationReport }).operations;
  if (operations) write(`    ${formatOperations(operations)}`);
  const walk = (value: unknown, path: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else if (Array.isArray(value) && value.some((v) => v && typeof v === 'object')) {
      // One line per element (the steps of `max`), its operations as their one-line digest.
      value.forEach((element: unknown, i) => {
        const { operations: ops, ...rest } = element as { operations?: OperationReport };
        write(`  ${path}[${i}]: ${JSON.stringify(rest)}`);
        if (ops) write(`  ${path}[${i}].operations: ${formatOperations(ops)}`);
      });
    } else if (!Array.isArray(value) || value.length <= 8) {
      write(`  ${path}: ${JSON.stringify(value)}`);
    }
  };
  walk(report.result, '');
}

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULTS, HelpRequested, OptionsError, parseOptions, type BenchOptions } from '../../bench/options.js';
import { printSummary, runBench } from '../../bench/run.js';
import { printScale, runScale } from '../../bench/scale.js';
import type { OperationReport } from '../../bench/operations.js';
import { percentile, summarize } from '../../bench/stats.js';
import { ROOT } from '../helpers/process.js';

/**
 * The benchmark harness in miniature: the real built services, real sockets, a few seconds of
 * load. It proves the harness completes and that nothing is lost or duplicated; it never
 * asserts a speed (this machine is shared and its numbers are noise). Needs `npm run build`.
 */
/** A count or a time per event: a number, finite, never negative (what it is, is no business of a test). */
function assertCount(value: unknown, what: string): void {
  assert.equal(typeof value, 'number', `${what} is a number, got ${JSON.stringify(value)}`);
  assert.ok(
    Number.isFinite(value) && (value as number) >= 0,
    `${what} is finite and not negative, got ${String(value)}`,
  );
}

/** The per-event operation counts every report carries (bench/operations.ts), all read from the real servers. */
function assertOperations(o: OperationReport | undefined, events: number, where: string): void {
  assert.ok(o, `${where}: the report has operations`);
  assert.equal(o.events, events, `${where}: the span's events`);
  const { perEvent } = o;
  for (const key of ['brokerPublishes', 'brokerDeliveries', 'redisRequests', 'redisCommands'] as const)
    assertCount(perEvent[key], `${where}: perEvent.${key}`);
  assert.ok(
    (perEvent.brokerPublishes ?? 0) > 0 && (perEvent.redisRequests ?? 0) > 0,
    `${where}: the events cost broker publishes and Redis requests`,
  );
  for (const name of ['producer', 'consumer', 'ws-server', 'jobs', 'rabbitmq', 'redis', 'bench-harness', 'machine'])
    assertCount(perEvent.cpuMs[name], `${where}: perEvent.cpuMs.${name}`);
  assert.ok('scope' in o.broker, `${where}: broker counters were read (${JSON.stringify(o.broker)})`);
  assertCount(o.broker.deliveries, `${where}: broker.deliveries`);
  assertCount(o.redis.requests, `${where}: redis.requests`);
  assert.ok(Object.keys(o.redis.topCommands ?? {}).length > 0, `${where}: the top Redis commands are named`);
}

describe('npm run bench (smoke)', () => {
  let outDir: string;
  const logs: string[] = [];
  const small = (overrides: Partial<BenchOptions>): BenchOptions => ({
    ...DEFAULTS,
    users: 5,
    rate: 20,
    duration: 2,
    drainSeconds: 20,
    persistDelayMs: 500,
    build: false,
    progress: false,
    outDir,
    ...overrides,
  });

  before(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
  });
  after(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('steady: every accepted event is delivered once, acked and stored, and the report is written', async () => {
    const { report, files } = await runBench(small({ scenario: 'steady', warmup: 1 }), (l) => logs.push(l));
    const r = report.result as Record<string, unknown> & {
      persistence: { complete: boolean; expected: number; stored: number };
      latencyMs: { acceptedToReceived: { count: number } };
      brokerBaseline: { messagesPerSecond: number };
      mongoBulkWrites: { perNotification: number | null };
    };
    assert.equal(r.sent, 40);
    assert.equal(r.accepted, 40, `every event accepted; log:\n${logs.join('\n')}`);
    assert.equal(r.delivered, 40);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicatesAfterAck, 0);
    assert.equal(r.unmatchedNotifications, 0);
    assert.equal(r.latencyMs.acceptedToReceived.count, 40);
    assert.equal(r.persistence.complete, true, 'every delivered notification stored as delivered');
    // The 20 warm-up events are stored too; only the 40 measured ones count above.
    assert.equal(r.persistence.expected, 60);
    assert.equal(r.persistence.stored, 60);
    assert.ok(r.brokerBaseline.messagesPerSecond > 0, 'the broker baseline was measured');
    assert.ok(r.mongoBulkWrites.perNotification !== null && r.mongoBulkWrites.perNotification > 0);
    const operations = r.operations as OperationReport;
    assertOperations(operations, 40, 'steady');
    assertCount(operations.mongoWritesPerNotification, 'steady: mongoWritesPerNotification');
    const summary: string[] = [];
    printSummary(report, (l) => summary.push(l));
    assert.match(
      summary.join('\n'),
      /per event \(40 in [\d.]+ s\): broker [\d.]+ publishes, [\d.]+ deliveries .*Redis [\d.]+ requests, [\d.]+ commands.*CPU ms: machine [\d.]+/,
    );
    assert.match(summary.join('\n'), /operations\.perEvent\.cpuMs\.rabbitmq: /, 'every figure is in the summary');

    const saved = JSON.parse(await readFile(files.json, 'utf8')) as { scenario: string; windows: unknown[] };
    assert.equal(saved.scenario, 'steady');
    assert.ok(saved.windows.length >= 2, 'one window per second of the run');
    assert.ok(files.svg, 'a chart is written');
    const svg = await readFile(files.svg, 'utf8');
    assert.match(svg, /^<\?xml[\s\S]*<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  });

  it('steady on an aged database: the documents are loaded first, reported, and everything is still delivered', async () => {
    const aged = 2000;
    const startedMs = performance.now();
    const { report, files } = await runBench(
      small({ scenario: 'steady', warmup: 0, baseline: false, agedNotifications: aged }),
      (l) => logs.push(l),
    );
    const runMs = performance.now() - startedMs;
    assert.deepEqual(report.agedDatabase?.notifications, aged, `log:\n${logs.join('\n')}`);
    // The load is a part of the run this test timed: more than nothing, never more than the whole
    // (a time in the wrong unit, or a timestamp instead of a duration, is neither).
    const { loadMs } = report.agedDatabase;
    assert.ok(loadMs > 0 && loadMs <= runMs, `loadMs ${loadMs} within the run's ${Math.round(runMs)} ms`);
    assert.ok(
      logs.some((l) => l.includes(`aged database: ${aged} notifications loaded in ${(loadMs / 1000).toFixed(1)} s`)),
      'the load time printed is the one reported',
    );
    const summary: string[] = [];
    printSummary(report, (l) => summary.push(l));
    assert.match(
      summary.slice(0, 3).join('\n'),
      new RegExp(`aged database: ${aged} stored notifications`),
      'the summary header notes it',
    );
    const saved = JSON.parse(await readFile(files.json, 'utf8')) as { agedDatabase?: { notifications: number } };
    assert.equal(saved.agedDatabase?.notifications, aged);

    const r = report.result as Record<string, unknown> & {
      persistence: { complete: boolean; expected: number; stored: number };
    };
    assert.equal(r.accepted, 40);
    assert.equal(r.delivered, 40);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicatesAfterAck, 0);
    // Only the run's own notifications count, not the aged ones (delivered ones among them).
    const { complete, expected, stored } = r.persistence;
    assert.deepEqual({ complete, expected, stored }, { complete: true, expected: 40, stored: 40 });
  });

  it('reconnect-storm: clients that come back get every pending notification once', async () => {
    const { report } = await runBench(
      small({ scenario: 'reconnect-storm', users: 4, pending: 3, baseline: false, warmup: 0 }),
      (l) => logs.push(l),
    );
    const r = report.result as Record<string, unknown>;
    assert.equal(r.accepted, 12);
    assert.equal(r.delivered, 12);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicatesAfterAck, 0);
    const operations = r.operations as OperationReport;
    assert.equal(operations.per, 'replayed notification');
    assertCount(operations.perEvent.redisRequests, 'reconnect-storm: perEvent.redisRequests');
    assertCount(operations.perEvent.cpuMs['ws-server'], 'reconnect-storm: perEvent.cpuMs.ws-server');
  });

  it('max, with --batch: each step reports its own operation counts per event; batched events all accepted', async () => {
    // Events go through POST /events/batch here (the steady case covers POST /events): the real
    // producer's per-item results must read as accepted, one by one.
    const { report } = await runBench(
      small({ scenario: 'max', rate: 20, step: 20, maxRate: 40, duration: 1, warmup: 0, baseline: false, batch: 4 }),
      (l) => logs.push(l),
    );
    const r = report.result as Record<string, unknown> & {
      steps: { rate: number; operations: OperationReport }[];
      operations: OperationReport;
      delivered: number;
    };
    assert.deepEqual(
      r.steps.map((s) => s.rate),
      [20, 40],
      `log:\n${logs.join('\n')}`,
    );
    assert.equal(r.lost, 0);
    assert.equal(r.sent, 60);
    assert.equal(r.accepted, r.sent, `every batched event accepted: ${JSON.stringify(r.httpFailures)}`);
    for (const step of r.steps) assertOperations(step.operations, step.rate, `max step ${step.rate}/s`);
    assertOperations(r.operations, r.delivered, 'max');
  });

  it('fanout: one post reaches every connected follower once and is stored once per follower', async () => {
    const { report } = await runBench(
      small({ scenario: 'fanout', followers: 50, connected: 10, baseline: false, warmup: 0 }),
      (l) => logs.push(l),
    );
    const r = report.result as Record<string, unknown> & {
      persistence: {
        complete: boolean;
        stored: number;
        distinctRecipients: number;
        missing: number;
        duplicates: number;
      };
    };
    assert.equal(r.connectedReceived, 10, `log:\n${logs.join('\n')}`);
    assert.equal(r.lost, 0);
    assert.equal(r.duplicates, 0);
    const { complete, stored, distinctRecipients, missing, duplicates } = r.persistence;
    assert.deepEqual(
      { complete, stored, distinctRecipients, missing, duplicates },
      { complete: true, stored: 50, distinctRecipients: 50, missing: 0, duplicates: 0 },
    );
  });

  it('scale 1,2: the same steady run with one and with two ws-server and consumer processes, both reported, nothing lost', async () => {
    const { report, file } = await runScale(
      small({ scenario: 'steady', warmup: 0, baseline: false, users: 6, scale: [1, 2] }),
      (l) => logs.push(l),
    );
    assert.deepEqual(
      report.runs.map((r) => r.instances),
      [1, 2],
      `log:\n${logs.join('\n')}`,
    );
    const [one, two] = report.runs.map(
      (r) =>
        r.report.result as Record<string, unknown> & { services: Record<string, unknown>; operations: OperationReport },
    );
    assert.ok(one && two);
    for (const [r, where] of [
      [one, '1 instance'],
      [two, '2 instances'],
    ] as const) {
      assert.deepEqual(
        { accepted: r.accepted, delivered: r.delivered, lost: r.lost, duplicatesAfterAck: r.duplicatesAfterAck },
        { accepted: 40, delivered: 40, lost: 0, duplicatesAfterAck: 0 },
        where,
      );
      assertOperations(r.operations, 40, where);
    }
    // The first run has one process of each service, the second two ws-servers and two consumers,
    // each sampled on its own and summed under the service's name.
    const wsEntries = (r: { services: Record<string, unknown> }) =>
      Object.keys(r.services)
        .filter((k) => k.startsWith('ws-server'))
        .sort();
    assert.deepEqual(wsEntries(one), ['ws-server']);
    assert.deepEqual(wsEntries(two), ['ws-server', 'ws-server#1', 'ws-server#2']);
    assert.ok(
      'consumer#2' in two.services && !('producer#2' in two.services) && !('jobs#2' in two.services),
      `processes: ${Object.keys(two.services).join(', ')}`,
    );
    const cpu = two.operations.perEvent.cpuMs;
    for (const name of ['ws-server#1', 'ws-server#2', 'consumer#1', 'consumer#2'])
      assertCount(cpu[name], `2 instances: perEvent.cpuMs.${name}`);
    assert.ok(
      Math.abs((cpu['ws-server'] ?? 0) - (cpu['ws-server#1'] ?? 0) - (cpu['ws-server#2'] ?? 0)) < 0.01,
      `ws-server is the sum of its processes: ${JSON.stringify(cpu)}`,
    );
    // Clients round-robin by user (3 + 3), and each ws-server pushed its own users' notifications only.
    assert.deepEqual(two.clientsByWsServer, { 'ws-server#1': 3, 'ws-server#2': 3 });
    const work = two.operations.workByInstance ?? {};
    const sent = ['ws-server#1', 'ws-server#2'].map((label) => work[label]?.notificationsSent?.count ?? 0);
    assert.ok(
      sent.every((n) => n > 0) && (sent[0] ?? 0) + (sent[1] ?? 0) >= 40,
      `each ws-server sent some, together every one: ${JSON.stringify(work)}`,
    );
    assert.equal(
      (work['consumer#1']?.eventsProcessed?.count ?? 0) + (work['consumer#2']?.eventsProcessed?.count ?? 0),
      40,
      `the consumers processed each event once: ${JSON.stringify(work)}`,
    );

    const summary: string[] = [];
    printScale(report, (l) => summary.push(l));
    const text = summary.join('\n');
    assert.match(text, /^ws-server \+ consumer processes\s+1 \+ 1\s+2 \+ 2$/m, text);
    assert.match(text, /^lost \/ duplicates after ACK\s+0 \/ 0\s+0 \/ 0$/m, text);
    assert.match(text, /^ {4}ws-server#2\s+–\s+[\d.]+$/m, 'a row per ws-server process, empty for the run without it');
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      kind: string;
      comparison: { instances: number }[];
      runs: { report: { result: { services: object } } }[];
    };
    assert.equal(saved.kind, 'scale');
    assert.deepEqual(
      saved.comparison.map((c) => c.instances),
      [1, 2],
    );
    assert.ok('ws-server#2' in (saved.runs[1]?.report.result.services ?? {}), 'the JSON holds both runs whole');
  });

  it('options: bad knobs are refused with a readable message', () => {
    assert.throws(
      () => parseOptions(['--scenario', 'fast']),
      (e: unknown) => e instanceof OptionsError && /steady, max/.test(e.message),
    );
    assert.throws(() => parseOptions(['--rate=-5']), /--rate must be a positive number/);
    assert.throws(() => parseOptions(['--rate', 'fast']), /--rate must be a positive number, got "fast"/);
    assert.throws(
      () => parseOptions(['--rat', '5']),
      (e: unknown) => e instanceof OptionsError && /Unknown option '--rat'[\s\S]*usage:/.test(e.message),
    );
    assert.throws(() => parseOptions(['--users', '1']), /at least 2/);
    assert.throws(() => parseOptions(['--aged-notifications=-1']), /--aged-notifications must be a whole number/);
    assert.throws(() => parseOptions(['--aged-notifications', '1.5']), /got "1.5"/);
    assert.equal(parseOptions(['--aged-notifications', '2000']).agedNotifications, 2000);
    assert.equal(parseOptions([]).agedNotifications, 0);
    assert.throws(
      () => parseOptions(['--help']),
      (e: unknown) => e instanceof HelpRequested && /--aged-notifications N/.test(e.message),
    );
    assert.throws(
      () => parseOptions(['--scenario', 'fanout', '--followers', '10', '--connected', '20']),
      /cannot exceed --followers/,
    );
    assert.equal(parseOptions(['--intake-key', 'bench-key-0123456789']).intakeKey, 'bench-key-0123456789');
    assert.throws(
      () => parseOptions(['--intake-key', 'two,keys']),
      (e: unknown) => e instanceof OptionsError && !e.message.includes('two,keys'),
    );
    assert.deepEqual(parseOptions(['--scale', '1,2']).scale, [1, 2]);
    assert.equal(parseOptions(['--scenario', 'max', '--instances', '2']).instances, 2);
    assert.deepEqual(parseOptions([]).scale, [], '--scale is off by default');
    assert.throws(() => parseOptions(['--scale', '1,0']), /--scale takes whole numbers from 1 to 8, got "0"/);
    assert.throws(() => parseOptions(['--scale', '1,1']), /each count once/);
    assert.throws(() => parseOptions(['--scale', '1,2', '--scenario', 'fanout']), /run steady or max, not fanout/);
    assert.throws(() => parseOptions(['--instances', '2', '--scale', '1,2']), /not both/);
    assert.deepEqual(
      { ...parseOptions(['--scenario', 'max', '--rate', '500', '--no-build']) },
      { ...DEFAULTS, scenario: 'max', rate: 500, build: false },
    );
  });

  it('npm run bench -- --help prints the usage and exits 0', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run bench[\s\S]*--aged-notifications N[\s\S]*--scale 1,2/);
  });

  it('percentiles are nearest-rank and empty input gives nulls', () => {
    const values = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    assert.equal(
      percentile(
        [...values].sort((a, b) => a - b),
        0.99,
      ),
      990,
    );
    assert.deepEqual(summarize([]), { count: 0, p50: null, p90: null, p99: null, p999: null, max: null });
    assert.equal(summarize(values).p50, 500);
    assert.equal(summarize(values).max, 1000);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { authStages } from '../auth-stages.js';
import { serviceWarnings, sleep, type Harness, type ScenarioResult } from '../harness.js';
import { OperationMeter } from '../operations.js';
import { IdleFleet } from '../idle-fleet.js';
import { scrapeSum } from '../scrape.js';
import { sampleMemory, type MemorySample } from '../ws-memory.js';

/** Lets the ws-server's heap settle before and after, so the RSS delta is the sockets'. */
const SETTLE_MS = 3000;
/** Bound on one /metrics scrape (an unaccepted connection would wait forever). */
const SCRAPE_TIMEOUT_MS = 5000;
/** Handshakes in flight at once, over all client processes. */
const CONNECT_CONCURRENCY = 200;

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const kbEach = (delta: number, sockets: number) =>
  sockets > 0 ? Math.round((delta / 1024 / sockets) * 100) / 100 : null;

/** The ws-server's own file-descriptor budget: what bounds the sockets one process can hold. */
function fdUsage(pid: number): { openFds: number; maxOpenFiles: number | null } {
  const limit = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return { openFds: readdirSync(`/proc/${pid}/fd`).length, maxOpenFiles: limit ? Number(limit[1]) : null };
}

/**
 * N idle authenticated sockets on one ws-server: what each one costs in memory. The clients
 * live in child processes (bench/idle-fleet.ts); the server's memory is sampled after a forced
 * GC (bench/ws-memory-probe.ts), so the per-socket figures count live memory, not garbage.
 */
export async function connections(h: Harness): Promise<ScenarioResult> {
  const { options: o } = h;
  const ws = h.stack.services['ws-server'];
  const meter = await OperationMeter.start(h);
  const usage = meter.usage;
  const fleet = new IdleFleet(ws.port, h.stack.jwtSecret);
  try {
    // As long as the sockets are held later: the before and after-hold samples see the same idle time.
    await sleep(Math.max(SETTLE_MS, o.duration * 1000));
    const rssBeforeNoGcMb = usage.rssMb('ws-server');
    const before = await sampleMemory(ws);
    h.log(`connections: opening ${o.users} authenticated sockets from child processes`);
    const start = performance.now();
    const connected = await fleet.connect(h.stack.userIds, CONNECT_CONCURRENCY);
    const connectSeconds = (performance.now() - start) / 1000;
    await sleep(SETTLE_MS);
    const rssAfterNoGcMb = usage.rssMb('ws-server');
    const after = await sampleMemory(ws);
    h.log(
      `connections: ${connected.authed} open (${connected.failures} failed) over ${connected.processes} processes; holding for ${o.duration} s`,
    );
    for (let held = 0; held < o.duration; held++) {
      await sleep(1000);
      if (o.progress) h.log(`[${held + 1}s] ws-server RSS ${usage.rssMb('ws-server').toFixed(1)} MB`);
    }
    const held = await sampleMemory(ws);
    const counts = await fleet.count();
    const fds = fdUsage(ws.proc.pid ?? 0);
    // A server at its fd limit cannot accept the scrape's connection either: null then.
    const scrape = <T>(read: () => Promise<T>) =>
      Promise.race([read(), sleep(SCRAPE_TIMEOUT_MS).then(() => null)]).catch(() => null);
    const serverSockets = await scrape(() => scrapeSum(ws.port, 'ws_connected_sockets'));
    const acceptErrors = await scrape(() => scrapeSum(ws.port, 'ws_accept_errors_total'));
    const auth = await scrape(() => authStages(ws.port));
    const { services, operations } = await meter.stop(connected.authed, 'authenticated socket');
    const n = connected.authed;
    const delta = (key: keyof MemorySample, at = after) => kbEach(Number(at[key]) - Number(before[key]), n);
    return {
      baselineMessages: 0,
      result: {
        sockets: o.users,
        authenticated: n,
        stillOpenAfterHold: counts.open,
        serverReportedSockets: serverSockets,
        authFailures: connected.failures,
        firstAuthFailure: connected.firstFailure,
        closedByServer: counts.closedByServer,
        clientProcesses: connected.processes,
        connectSeconds: Math.round(connectSeconds * 100) / 100,
        wsServerFds: fds,
        /** Connections the server could not accept (EMFILE at the file-descriptor limit). */
        acceptErrors,
        /** After a forced GC, per authenticated socket: the figures to compare with the target. */
        afterGc: {
          rssBeforeMb: mb(before.rss),
          rssAfterMb: mb(after.rss),
          rssPerSocketKb: delta('rss'),
          heapUsedPerSocketKb: delta('heapUsed'),
          heapTotalPerSocketKb: delta('heapTotal'),
          externalPerSocketKb: delta('external'),
          gcForced: before.gcForced && after.gcForced,
        },
        /**
         * The same after holding the sockets for --duration: V8 and malloc hand back the pages the
         * AUTH ramp's garbage needed only after a while, so this is the sockets' steady cost.
         */
        afterHoldGc: {
          rssAfterMb: mb(held.rss),
          rssPerSocketKb: delta('rss', held),
          heapUsedPerSocketKb: delta('heapUsed', held),
          heapTotalPerSocketKb: delta('heapTotal', held),
        },
        /** The earlier method, kept for comparison: RSS delta without a GC, garbage included. */
        noGc: {
          rssBeforeMb: Math.round(rssBeforeNoGcMb * 10) / 10,
          rssAfterMb: Math.round(rssAfterNoGcMb * 10) / 10,
          rssPerSocketKb: kbEach((rssAfterNoGcMb - rssBeforeNoGcMb) * 2 ** 20, n),
        },
        authStages: auth,
        operations,
        services,
        serviceWarnings: serviceWarnings(h),
      },
    };
  } finally {
    await fleet.close();
  }
}

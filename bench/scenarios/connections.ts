import { serviceWarnings, sampler, sleep, type Harness, type ScenarioResult } from '../harness.js';
import { scrapeSum } from '../scrape.js';

/** Lets the ws-server's heap settle before and after, so the RSS delta is the sockets'. */
const SETTLE_MS = 3000;

/** N idle authenticated sockets on one ws-server: what each one costs in memory. */
export async function connections(h: Harness): Promise<ScenarioResult> {
  const { options: o } = h;
  const wsPort = h.stack.services['ws-server'].port;
  const heapUsedMb = async () => (await scrapeSum(wsPort, 'nodejs_heap_size_used_bytes')) / 2 ** 20;
  const usage = sampler(h);
  await sleep(SETTLE_MS);
  const rssBeforeMb = usage.rssMb('ws-server');
  const heapBeforeMb = await heapUsedMb();
  h.log(`connections: opening ${o.users} authenticated sockets`);
  const start = performance.now();
  const failures = await h.fleet.connect(h.stack.userIds, 200);
  const connectSeconds = (performance.now() - start) / 1000;
  await sleep(SETTLE_MS);
  const rssAfterMb = usage.rssMb('ws-server');
  const heapAfterMb = await heapUsedMb();
  h.log(`connections: ${h.fleet.size} open; holding for ${o.duration} s`);
  for (let held = 0; held < o.duration; held++) {
    await sleep(1000);
    if (o.progress) h.log(`[${held + 1}s] open ${h.fleet.size}  ws-server RSS ${usage.rssMb('ws-server').toFixed(1)} MB`);
  }
  const serverSockets = await scrapeSum(wsPort, 'ws_connected_sockets');
  const stillOpen = h.fleet.size;
  const services = usage.stop();
  return {
    baselineMessages: 0,
    result: {
      sockets: o.users,
      stillOpenAfterHold: stillOpen,
      serverReportedSockets: serverSockets,
      authFailures: failures.length,
      firstAuthFailure: failures[0] ?? null,
      closedByServer: h.fleet.closedByServer,
      connectSeconds: Math.round(connectSeconds * 100) / 100,
      wsServerRssBeforeMb: Math.round(rssBeforeMb * 10) / 10,
      wsServerRssAfterMb: Math.round(rssAfterMb * 10) / 10,
      memoryPerSocketKb: Math.round((((rssAfterMb - rssBeforeMb) * 1024) / o.users) * 100) / 100,
      /** The JavaScript share of it (V8 heap used, sampled without forcing a GC). */
      heapPerSocketKb: Math.round((((heapAfterMb - heapBeforeMb) * 1024) / o.users) * 100) / 100,
      services,
      serviceWarnings: serviceWarnings(h),
    },
  };
}

import { deliveredPerSecond, drain, serviceWarnings, sleep, type Harness, type ScenarioResult } from '../harness.js';
import { OperationMeter } from '../operations.js';
import { eventually } from '../../test/helpers/wait.js';
import { listenOverflows } from '../listen-overflows.js';
import { startProgress } from '../progress.js';
import { authStages, stagesSince } from '../auth-stages.js';
import { scrapeSum } from '../scrape.js';

/** After everything is delivered and ACKed: how long a late redelivery gets to show up. */
const AFTER_ACK_WATCH_MS = 3000;

/**
 * N clients go away, K notifications each pile up for them, then all N reconnect at once: the
 * time until every pending notification is delivered, and no duplicate once it is ACKed.
 */
export async function reconnectStorm(h: Harness): Promise<ScenarioResult> {
  const { options: o, tracker } = h;
  const n = o.users;
  const total = n * o.pending;
  await h.fleet.prepareTokens(h.stack.userIds);
  h.log(`reconnect-storm: ${n} clients connect, then go away`);
  await h.fleet.connectAll(h.stack.userIds);
  await h.fleet.disconnectAll();

  h.log(`reconnect-storm: ${total} notifications (${o.pending} per client) at ${o.rate} events/s while they are away`);
  await h.load.run(o.rate, total / o.rate, 0, (i) => i % n);
  await h.load.settle(o.drainSeconds * 1000);
  await eventually(
    async () =>
      (await scrapeSum(h.stack.services.consumer.port, 'consumer_events_processed_total', 'outcome="buffered"')) >=
        tracker.accepted || undefined,
    { what: 'the consumer to buffer every accepted event', timeoutMs: o.drainSeconds * 1000 + total * 10 },
  );

  const meter = await OperationMeter.start(h);
  const stopProgress = startProgress(tracker, o.progress);
  h.log(`reconnect-storm: all ${n} clients reconnect at once`);
  const start = performance.now();
  const authBefore = await authStages(h.stack.services['ws-server'].port);
  const harnessCpu = process.cpuUsage();
  const overflowsBefore = listenOverflows();
  const authFailures = await h.fleet.connect(h.stack.userIds, n);
  const connectedSeconds = (performance.now() - start) / 1000;
  const overflowsAfter = listenOverflows();
  // A client refused during the storm (AUTH not answered within AUTH_TIMEOUT_MS) comes back
  // once more, as a real client would; its notifications are still pending.
  const retried = authFailures.length > 0 ? h.stack.userIds.filter((id) => !h.fleet.isConnected(id)) : [];
  const retryFailures = retried.length > 0 ? await h.fleet.connect(retried, 100) : [];
  await drain(h);
  const allDeliveredSeconds = (performance.now() - start) / 1000;
  const { user, system } = process.cpuUsage(harnessCpu);
  const harnessCpuPercent = Math.round(((user + system) / 1e6 / allDeliveredSeconds) * 1000) / 10;
  await sleep(AFTER_ACK_WATCH_MS);
  stopProgress();
  tracker.closeWindow();
  const { services, operations } = await meter.stop(tracker.delivered, 'replayed notification');
  const auth = stagesSince(authBefore, await authStages(h.stack.services['ws-server'].port));
  return {
    baselineMessages: tracker.accepted,
    throughput: deliveredPerSecond(h),
    result: {
      clients: n,
      pendingPerClient: o.pending,
      accepted: tracker.accepted,
      httpFailed: tracker.failed,
      httpFailures: Object.fromEntries(tracker.failures),
      delivered: tracker.delivered,
      /** Pending for a client that did connect, yet never delivered: must be 0. */
      lost: tracker.lost((r) => h.fleet.isConnected(r.userId)).length,
      /** Still pending for clients the server refused twice (they stay in Redis for the next AUTH). */
      pendingForRefusedClients: tracker.lost((r) => !h.fleet.isConnected(r.userId)).length,
      duplicatesAfterAck: tracker.duplicatesAfterAck,
      redeliveriesBeforeAck: tracker.redeliveries,
      refusedInStorm: authFailures.length,
      refusedAgain: retryFailures.length,
      firstRefusal: authFailures[0] ?? null,
      allAuthenticatedSeconds: Math.round(connectedSeconds * 100) / 100,
      allDeliveredSeconds: Math.round(allDeliveredSeconds * 100) / 100,
      replayedPerSecond: Math.round(tracker.delivered / allDeliveredSeconds),
      authStages: auth,
      /** The client fleet's own CPU from the storm to the last delivery, % of one core. */
      harnessCpuPercent,
      /** Handshakes the kernel dropped during the storm: the listen backlog was full (machine-wide count). */
      listenOverflowsInStorm:
        overflowsBefore === null || overflowsAfter === null ? null : overflowsAfter - overflowsBefore,
      operations,
      services,
      serviceWarnings: serviceWarnings(h),
    },
  };
}

import { isFanoutType } from '../shared/event-types.js';
import { asError } from '../shared/errors.js';
import { startFanout, type FanoutDeps } from './fanout.js';
import { applyToFollowGraph } from './follow-graph.js';
import type { Outcome } from './metrics.js';
import type { IncomingEvent, ParsedEvent } from './parse-event.js';
import { processEvents, type EventToProcess } from './process-event.js';

export interface IncomingToProcess {
  event: IncomingEvent;
  acceptedAtMs?: number;
  /** The producer's HTTP request id (the message's correlationId), for log lines about the event. */
  requestId?: string;
}

/**
 * Which path each event of a batch takes: a POST fans out to the actor's followers (fanout.ts);
 * UNFOLLOW only changes the follow graph; FOLLOW changes it and notifies the followed user; every
 * other event goes straight to the per-recipient path, all of them together (process-event.ts).
 * Each event gets its outcome or its own error.
 *
 * The graph lives in MongoDB, so its writes run beside the commit, never before it: a slow
 * MongoDB delays only the FOLLOW or UNFOLLOW's own ack, not the delivery of the batch's other
 * events (nor the next batch, which waits for this commit). A FOLLOW whose graph write fails is
 * retried although its notification was committed: the retry commits as a duplicate (nothing is
 * sent twice) and writes the edge again, which is idempotent.
 */
export async function dispatchEvents(
  deps: FanoutDeps,
  items: IncomingToProcess[],
  onCommitted?: (committed: readonly unknown[]) => void,
): Promise<Array<Outcome | Error>> {
  const results: Array<Outcome | Error> = new Array(items.length);
  const direct: Array<{ index: number; item: EventToProcess }> = [];
  /** Each graph write's error, or undefined once it is done; caught at once, awaited after the commit starts. */
  const graphWrites: Array<{ index: number; done: Promise<Error | undefined> }> = [];
  await Promise.all(
    items.map(async ({ event, ...origin }, index) => {
      try {
        if (isFanoutType(event.type) || event.targetId === undefined) {
          await startFanout(deps, event, origin);
          results[index] = 'fanned_out';
          return;
        }
        const parsed: ParsedEvent = { ...event, targetId: event.targetId };
        if (parsed.type === 'FOLLOW' || parsed.type === 'UNFOLLOW') {
          const done = applyToFollowGraph(deps.follows, parsed).then(() => undefined, asError);
          graphWrites.push({ index, done });
          if (parsed.type === 'UNFOLLOW') return;
        }
        direct.push({ index, item: { event: parsed, ...origin } });
      } catch (err) {
        results[index] = asError(err);
      }
    }),
  );
  // Arrival order within the batch: the script calls of one user's events run in that order.
  direct.sort((a, b) => a.index - b.index);
  const [processed, graphed] = await Promise.all([
    processEvents(
      deps,
      direct.map((d) => d.item),
      onCommitted,
    ),
    Promise.all(graphWrites.map((g) => g.done)),
  ]);
  direct.forEach((d, k) => (results[d.index] = processed[k]!));
  graphWrites.forEach(({ index }, k) => {
    const failed = graphed[k];
    if (failed) results[index] = failed;
    else if (items[index]!.event.type === 'UNFOLLOW') results[index] = 'graph_updated';
  });
  return results;
}

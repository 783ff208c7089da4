import { isFanoutType } from '../shared/schemas/event.js';
import { startFanout, type FanoutDeps } from './fanout.js';
import { applyToFollowGraph } from './follow-graph.js';
import type { Outcome } from './metrics.js';
import type { IncomingEvent } from './parse-event.js';
import { processEvent } from './process-event.js';

/**
 * Which path an event takes: a POST fans out to the actor's followers (fanout.ts); UNFOLLOW
 * only changes the follow graph; FOLLOW changes it and notifies the followed user; every
 * other event goes straight to the per-recipient path.
 */
export async function dispatchEvent(deps: FanoutDeps, event: IncomingEvent, acceptedAtMs?: number): Promise<Outcome> {
  if (isFanoutType(event.type) || event.targetId === undefined) {
    await startFanout(deps, event, acceptedAtMs);
    return 'fanned_out';
  }
  const direct = { ...event, targetId: event.targetId };
  await applyToFollowGraph(deps.follows, direct);
  if (direct.type === 'UNFOLLOW') return 'graph_updated';
  return processEvent(deps, direct, acceptedAtMs);
}

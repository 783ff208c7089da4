import type { AuthOkFrame, ReplayDoneFrame } from '../shared/protocol/frames.js';

/**
 * Without a REPLAY_DONE (AUTH_OK with catchingUp false) and with recovered:false the server
 * does not say how many notifications its replay carries (REPLAY_LIMIT): the replay is taken
 * as over once no NOTIFICATION has come for this long.
 */
export const REPLAY_QUIET_MS = 100;

export interface ReplayOutcome {
  recovered: boolean;
  replayed: number;
  pending: number;
}

/**
 * The resume point (`lastSeq` on AUTH) and the end of each replay.
 *
 * The server replays what is pending after `lastSeq` in priority order, not seq order, so "the
 * highest seq seen" is safe to resume from only once a replay has been received whole: a
 * connection cut in the middle of it (a security notification with seq 9 received, a like with
 * seq 3 not yet) would otherwise resume after 9 and never see 3. So the resume point moves:
 * - at the end of a replay that says `recovered: true`, to the server's `seq` (AUTH_OK's, or
 *   REPLAY_DONE's after a MongoDB catch-up: the user's latest when the replay was read, kept
 *   below anything do-not-disturb holds back; up to it, everything unacked was in the replay),
 *   or, from a server without it, to the highest seq of Redis's replay;
 * - afterwards, with live notifications (and those that came during a MongoDB catch-up after
 *   Redis's replay), but only over seqs without a gap: seqs are per user and
 *   consecutive (every notification and every aggregate update takes the next one), and a live
 *   push is only a hint (a wake lost while Redis restarts, a push racing a resync), so seq 11
 *   arriving while 10 has not must not let a resume skip 10. The point stops at the gap and moves
 *   past it when the missing seq arrives (a resync re-sends it) or at the next recovered replay.
 *   A gap that never fills (an aggregate version superseded before it was pushed) costs only a
 *   larger replay, never a missed notification. With no point yet (a server without AUTH_OK's
 *   `seq`, and a replay that carried nothing) live seqs set none: the first may follow a lost one;
 * - never during a connection whose replay said `recovered: false`: the next connection's replay
 *   then starts where this one did and carries what this one could not (less what was acked);
 * - back to none when AUTH_OK says `resumeReset`: the point was above every seq the server has
 *   (its Redis lost the user's data and the seq counter started again), so the server ignored it
 *   and replays everything; the point is the server's `seq` once that replay has arrived whole
 *   and recovered, as after a first connection.
 */
export class ResumeTracker {
  lastSeq: number | undefined;
  private replay:
    | {
        pending: number;
        recovered: boolean;
        catchingUp: boolean;
        count: number;
        maxSeq: number;
        /** During a catch-up, the seqs after Redis's `pending` frames (see `notification`). */
        later: number[];
        /** AUTH_OK's `seq`: nothing up to it is missing once this replay is whole and recovered. */
        upTo: number | undefined;
      }
    | undefined;
  /** Live notifications move the resume point (after a recovered replay). */
  private advancing = false;
  /** Live seqs received past a gap after lastSeq, waiting for the gap to fill. */
  private ahead = new Set<number>();

  constructor(lastSeq: number | undefined) {
    this.lastSeq = lastSeq;
  }

  get replaying(): boolean {
    return this.replay !== undefined;
  }

  /** AUTH_OK. Returns the outcome when the replay is already complete (nothing to replay). */
  authenticated(ok: AuthOkFrame): ReplayOutcome | undefined {
    this.advancing = false;
    if (ok.resumeReset === true) {
      // The server's seqs started again below our point (its Redis lost the user's data) and it
      // replays everything: no point until this replay is whole, then the server's `seq`. Its
      // `seq` taken now would let a reconnect in the middle of the replay skip the rest of it;
      // the old point kept would hide the new seqs again once they pass it.
      this.lastSeq = undefined;
      this.ahead.clear();
    }
    this.replay = {
      pending: ok.pending,
      recovered: ok.recovered,
      catchingUp: ok.catchingUp,
      count: 0,
      maxSeq: this.lastSeq ?? 0,
      later: [],
      upTo: ok.seq,
    };
    if (!ok.catchingUp && ok.recovered && ok.pending === 0) return this.finish(true, ok.pending);
    return undefined;
  }

  /** A NOTIFICATION. Returns the outcome when it completes the replay. */
  notification(seq: number): ReplayOutcome | undefined {
    const replay = this.replay;
    if (!replay) {
      if (this.advancing) this.advanceLive(seq);
      return undefined;
    }
    replay.count += 1;
    // A catch-up's first `pending` frames are Redis's replay, complete by itself. What follows
    // mixes MongoDB's older notifications with live pushes, and a live push is only a hint (its
    // wake may have been lost while an earlier one's was not): those seqs move the point only
    // over consecutive seqs, like live ones after a replay (advanceLive at the end).
    if (replay.catchingUp && replay.count > replay.pending) replay.later.push(seq);
    else replay.maxSeq = Math.max(replay.maxSeq, seq);
    if (!replay.catchingUp && replay.recovered && replay.count >= replay.pending)
      return this.finish(true, replay.pending);
    return undefined;
  }

  /** REPLAY_DONE: the MongoDB half has been sent; its counts are final. */
  replayDone(frame: ReplayDoneFrame): ReplayOutcome | undefined {
    if (!this.replay) return undefined;
    // AUTH_OK's seq did not know what MongoDB's half would hold back; REPLAY_DONE's does.
    this.replay.upTo = frame.seq;
    return this.finish(frame.recovered, frame.pending);
  }

  /** A replay whose end the server does not announce (see REPLAY_QUIET_MS). */
  get awaitsQuiet(): boolean {
    return this.replay !== undefined && !this.replay.catchingUp && !this.replay.recovered;
  }

  /** The quiet period after such a replay passed. */
  quiet(): ReplayOutcome | undefined {
    if (!this.replay) return undefined;
    return this.finish(false, this.replay.pending);
  }

  disconnected(): void {
    this.replay = undefined;
    this.advancing = false;
    this.ahead.clear();
  }

  private advanceLive(seq: number): void {
    // No point yet to count a gap from (a replay of nothing, first connection): the first live
    // seq may itself follow a lost one, so none is taken. Resuming without lastSeq replays
    // everything pending, which costs a larger replay, never a missed notification.
    if (this.lastSeq === undefined) return;
    if (seq <= this.lastSeq) return;
    this.ahead.add(seq);
    while (this.ahead.delete(this.lastSeq + 1)) this.lastSeq += 1;
  }

  private finish(recovered: boolean, pending: number): ReplayOutcome {
    const replay = this.replay!;
    this.replay = undefined;
    if (recovered) {
      this.ahead.clear();
      // The server's seq (AUTH_OK's, or REPLAY_DONE's after a catch-up), when it sent one, even
      // below a seq received: it stays below what do-not-disturb holds back, which the replay
      // leaves out and a point past it would skip for good (the replay frames above it come
      // again, deduplicated). From a server without it, the highest seq of Redis's replay.
      // 0 is a point too (a new user: nothing missed yet).
      const whole = replay.upTo ?? (replay.maxSeq || undefined);
      if (whole !== undefined && (this.lastSeq === undefined || whole > this.lastSeq)) this.lastSeq = whole;
      for (const seq of replay.later) this.advanceLive(seq);
      this.advancing = true;
    }
    return { recovered, replayed: replay.count, pending };
  }
}

import { ackRetryDelayMs } from './backoff.js';

/** Longest wait before acks the server shed with UNAVAILABLE are sent again. */
export const ACK_RETRY_MAX_DELAY_MS = 5_000;

export interface AckRetryOptions {
  /** Cap of the doubling wait after UNAVAILABLE (ms, default ACK_RETRY_MAX_DELAY_MS). */
  maxDelayMs?: number;
  /** The jitter's draw, in [0, 1) (tests pin it). */
  random?: () => number;
}

/** The version an ACK names of an id the client may hold two of: the known one, the higher of two. */
function newest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/** An id's ACK frames in flight on the current socket. */
interface SentAck {
  /** How many ACK frames carrying the id are unanswered. */
  frames: number;
  /** The highest version they named (undefined: none known), named again if they are resent. */
  version: number | undefined;
}

/**
 * Acks, batched: one ACK frame per `delayMs` carrying at most `maxBatch` ids (the server's
 * WS_MAX_ACK_BATCH; more is refused whole), each with the version of it the client holds
 * (undefined when it does not know): the server settles that version only, never a newer one it
 * committed meanwhile (docs/protocol.md). An id stays owed until an ACKED frame names it:
 * ids sent on a socket that closed before the answer are sent again after the next AUTH_OK,
 * and acks made while disconnected wait for it. An id acked again while its ACK is in flight (a
 * grown aggregate) is sent again, and an ACKED settles one ACK frame, never a later ack still
 * queued. An ACK is idempotent on the server, so sending one twice costs a few bytes and never a
 * wrong state.
 */
export class AckBatcher {
  /** Waiting to be sent, with the version to name. */
  private readonly queued = new Map<string, number | undefined>();
  /**
   * Sent on the current socket and not answered yet: how many ACK frames carrying the id are in
   * flight. Usually 1; 2 when a grown aggregate was acked again before the first ACK's answer
   * (see add), and the id is settled only once every one of them is answered.
   */
  private readonly sent = new Map<string, SentAck>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private open = false;
  /** UNAVAILABLE answers since the server last answered a shed id: how long the next resend waits (ackRetryDelayMs). */
  private shed = 0;
  /** Ids the server shed and has not answered since: only an answer naming one ends the backoff. */
  private readonly shedIds = new Set<string>();

  constructor(
    private readonly delayMs: number,
    private maxBatch: number,
    /** Sends one ACK frame (`versions` parallel to `ids`, null where unknown); false when the socket cannot take it. */
    private readonly send: (ids: string[], versions: Array<number | null>) => boolean,
    private readonly retryOptions: AckRetryOptions = {},
  ) {}

  get batchLimit(): number {
    return this.maxBatch;
  }

  /** Ids neither confirmed nor dropped. */
  get owed(): number {
    let owed = this.queued.size;
    for (const id of this.sent.keys()) if (!this.queued.has(id)) owed += 1;
    return owed;
  }

  /**
   * Queued even when an ACK of the id is in flight: a grown aggregate (same id, higher version)
   * is unacked again on the server (consumer/commit.lua deletes its acked mark), and the ACK in
   * flight may have been applied to the old version before the new one was committed. Skipping
   * the new ack would leave the new version pending forever, hidden by the client's dedupe.
   * `version`: the version of the id the client holds; an id queued twice names the higher.
   */
  add(id: string, version?: number): void {
    if (this.queued.has(id)) {
      this.queued.set(id, newest(this.queued.get(id), version));
      return;
    }
    this.queued.set(id, version);
    this.schedule();
  }

  /** AUTH_OK: send what waited for a socket at once. */
  opened(): void {
    this.open = true;
    this.flush();
  }

  /** The socket is gone: nothing is sent until the next AUTH_OK, and unconfirmed ids are owed again. */
  closed(): void {
    this.open = false;
    this.stopTimer();
    this.retry();
  }

  /**
   * ACKED. It answers an ACK already sent, never one still queued: a queued id is a newer ack
   * (a grown aggregate acked again) that this answer does not cover, so it stays queued.
   */
  confirmed(ids: readonly string[]): void {
    this.answered(ids);
    for (const id of ids) this.settle(id);
  }

  /**
   * The server answered these ids. If one was shed, it takes them again: resends after the next
   * UNAVAILABLE start from the ack delay. An ACKED of other ids does not say so: one ACK frame can
   * be answered ACKED for the ids Redis holds and UNAVAILABLE for those MongoDB must check
   * (ws-server/stored-ack.ts), and resetting on it would resend the shed ones every ack delay.
   */
  private answered(ids: readonly string[]): void {
    let reset = false;
    for (const id of ids) if (this.shedIds.delete(id)) reset = true;
    if (!reset) return;
    this.shed = 0;
    this.shedIds.clear();
  }

  /**
   * ERROR UNAVAILABLE: the server sheds load or a store is briefly away. The ids are sent again
   * (as retry), but after a wait that doubles with each UNAVAILABLE until an ACKED comes: resending
   * every ack delay (20 times a second by default) would hammer an overloaded server for as long
   * as it lasts.
   * Acks made meanwhile wait with them.
   */
  unavailable(ids?: readonly string[]): void {
    const refused = ids ?? [...this.sent.keys()];
    // Nothing of ours in flight: the answer was to another frame (an AUTH, a PING).
    if (!this.requeue(ids)) return;
    for (const id of refused) this.shedIds.add(id);
    const delayMs = ackRetryDelayMs(
      this.shed,
      this.delayMs,
      this.retryOptions.maxDelayMs ?? ACK_RETRY_MAX_DELAY_MS,
      this.retryOptions.random,
    );
    this.shed += 1;
    this.stopTimer();
    if (!this.open) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delayMs);
  }

  /** Sends these again with the next batch: a batch refused as too large, a socket that closed. */
  retry(ids?: readonly string[]): void {
    this.requeue(ids);
    this.schedule();
  }

  /** NOT_FOUND: not the user's, or unknown; acking them again cannot succeed. */
  drop(ids: readonly string[]): void {
    this.answered(ids);
    for (const id of ids) {
      this.sent.delete(id);
      this.queued.delete(id);
    }
  }

  /** ACK_BATCH_TOO_LARGE: the server's limit is lower than ours; halve it and send again. */
  shrink(): void {
    this.maxBatch = Math.max(1, Math.floor(this.maxBatch / 2));
    this.retry();
  }

  /** Sends everything owed now, in as many frames as needed (before a close). */
  flushAll(): void {
    this.stopTimer();
    while (this.open && this.queued.size > 0) {
      if (!this.sendBatch()) return;
    }
  }

  stop(): void {
    this.open = false;
    this.stopTimer();
  }

  private schedule(): void {
    if (!this.open || this.timer !== undefined || this.queued.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.delayMs);
  }

  /** One frame now; the rest, if any, one delay later. */
  private flush(): void {
    this.stopTimer();
    if (!this.open || this.queued.size === 0) return;
    if (this.sendBatch()) this.schedule();
  }

  /**
   * Moves ids in flight back to the queue; true when there were any. Without ids (the server did
   * not say which frame failed) every id in flight goes back: an ACK is idempotent, and a late
   * ACKED for one of them then finds nothing in flight and the extra ACK costs a few bytes.
   */
  private requeue(ids: readonly string[] | undefined): boolean {
    let moved = false;
    if (ids === undefined) {
      for (const [id, sent] of this.sent) this.queued.set(id, newest(this.queued.get(id), sent.version));
      moved = this.sent.size > 0;
      this.sent.clear();
    } else {
      for (const id of ids) {
        const version = this.sent.get(id)?.version;
        if (!this.settle(id)) continue;
        this.queued.set(id, newest(this.queued.get(id), version));
        moved = true;
      }
    }
    return moved;
  }

  /** One ACK frame carrying the id was answered; false when none was in flight. */
  private settle(id: string): boolean {
    const inFlight = this.sent.get(id);
    if (inFlight === undefined) return false;
    if (inFlight.frames > 1) inFlight.frames -= 1;
    else this.sent.delete(id);
    return true;
  }

  private sendBatch(): boolean {
    const ids: string[] = [];
    const versions: Array<number | null> = [];
    for (const [id, version] of this.queued) {
      ids.push(id);
      versions.push(version ?? null);
      if (ids.length >= this.maxBatch) break;
    }
    if (!this.send(ids, versions)) return false;
    ids.forEach((id, i) => {
      this.queued.delete(id);
      const sent = this.sent.get(id);
      const version = versions[i] ?? undefined;
      if (sent) {
        sent.frames += 1;
        sent.version = newest(sent.version, version);
      } else {
        this.sent.set(id, { frames: 1, version });
      }
    });
    return true;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Acks, batched: one ACK frame per `delayMs` carrying at most `maxBatch` ids (the server's
 * WS_MAX_ACK_BATCH; more is refused whole). An id stays owed until an ACKED frame names it:
 * ids sent on a socket that closed before the answer are sent again after the next AUTH_OK,
 * and acks made while disconnected wait for it. An ACK is idempotent on the server, so sending
 * one twice costs a few bytes and never a wrong state.
 */
export class AckBatcher {
  /** Waiting to be sent. */
  private readonly queued = new Set<string>();
  /** Sent on the current socket, not confirmed yet. */
  private readonly sent = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private open = false;

  constructor(
    private readonly delayMs: number,
    private maxBatch: number,
    /** Sends one ACK frame; false when the socket cannot take it. */
    private readonly send: (ids: string[]) => boolean,
  ) {}

  get batchLimit(): number {
    return this.maxBatch;
  }

  /** Ids neither confirmed nor dropped. */
  get owed(): number {
    return this.queued.size + this.sent.size;
  }

  add(id: string): void {
    if (this.sent.has(id) || this.queued.has(id)) return;
    this.queued.add(id);
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
    this.retry([...this.sent]);
  }

  /** ACKED. */
  confirmed(ids: readonly string[]): void {
    for (const id of ids) {
      this.sent.delete(id);
      this.queued.delete(id);
    }
  }

  /** UNAVAILABLE: send these again (all unconfirmed ones when the server did not say which). */
  retry(ids: readonly string[] = [...this.sent]): void {
    for (const id of ids) {
      if (this.sent.delete(id)) this.queued.add(id);
    }
    this.schedule();
  }

  /** NOT_FOUND: not the user's, or unknown; acking them again cannot succeed. */
  drop(ids: readonly string[]): void {
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

  private sendBatch(): boolean {
    const ids: string[] = [];
    for (const id of this.queued) {
      ids.push(id);
      if (ids.length >= this.maxBatch) break;
    }
    if (!this.send(ids)) return false;
    for (const id of ids) {
      this.queued.delete(id);
      this.sent.add(id);
    }
    return true;
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

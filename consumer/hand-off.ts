import { randomUUID } from 'node:crypto';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Topology } from '../shared/amqp/topology.js';
import { JSON_CONTENT_TYPE } from '../shared/messages.js';
import { encodePersistBatch } from '../shared/persist-batch.js';

/**
 * The hand-off to jobs: the notifications the consumer committed travel to the persist delay
 * queue in batches, one broker message per flush (`PersistBatchMessage`), not one per
 * notification. An event is acked only once the batch carrying its notification is confirmed, so
 * a crash anywhere before that redelivers the event, whose commit then answers 'duplicate' with
 * the buffered copy, and the hand-off is repeated (jobs stores by id: a second copy changes nothing).
 *
 * The flush waits at most `lingerMs` for more notifications to share the message. That short
 * wait delays only the event's ack and the stored copy, never delivery: the wake went out from
 * inside the commit.
 */
export interface HandOffOptions {
  /** Longest a notification waits for others to share its message (PERSIST_HANDOFF_LINGER_MS). */
  lingerMs: number;
  /** Notifications per message at most (PERSIST_HANDOFF_MAX_NOTIFICATIONS). */
  maxNotifications: number;
  /** Body size at most, well below the broker's message size limit. */
  maxBytes: number;
}

interface Pending {
  jsons: string[];
  bytes: number;
  confirmed: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function newPending(): Pending {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const confirmed = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections are handled by each add()'s caller; one nobody waits on must not crash the process.
  confirmed.catch(() => undefined);
  return { jsons: [], bytes: 0, confirmed, resolve, reject };
}

export class PersistHandOff {
  private pending: Pending | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly channel: ChannelWrapper,
    private readonly topology: Topology,
    private readonly options: HandOffOptions,
  ) {}

  /**
   * Resolves once confirmed persist messages carry every one of `jsons` (encoded notifications,
   * sent as they are: never decoded and encoded again); rejects if a publish failed, and then the
   * caller must not ack what produced them.
   */
  add(jsons: string[]): Promise<void> {
    const used = new Set<Promise<void>>();
    for (const json of jsons) {
      const bytes = Buffer.byteLength(json) + 1;
      const full =
        this.pending &&
        (this.pending.jsons.length >= this.options.maxNotifications ||
          this.pending.bytes + bytes > this.options.maxBytes);
      if (full) this.flush();
      this.pending ??= newPending();
      this.pending.jsons.push(json);
      this.pending.bytes += bytes;
      used.add(this.pending.confirmed);
    }
    if (this.pending && this.pending.jsons.length >= this.options.maxNotifications) this.flush();
    else if (this.pending) this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs);
    return Promise.all(used).then(() => undefined);
  }

  /** Publishes what is pending now (shutdown, or a full message). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = undefined;
    if (!batch) return;
    const body = encodePersistBatch(batch.jsons);
    const publish = this.channel
      .sendToQueue(this.topology.persistDelayQueue, body, {
        persistent: true,
        messageId: randomUUID(),
        contentType: JSON_CONTENT_TYPE,
      })
      .then(batch.resolve, batch.reject);
    const tracked = publish.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Flushes and waits for every publish in flight (shutdown). */
  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
  }
}

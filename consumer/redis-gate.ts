import { isRedisOutage } from '../shared/dependency-outage.js';
import type { Redis } from '../shared/redis.js';

/**
 * The consumer stops taking events while Redis is down, and starts again the moment it answers.
 *
 * Every step of an event's commit is in Redis, so during an outage every event fails the same way.
 * Taken anyway, each would go to the retry ladder (shared/amqp/envelope.ts) and come back only
 * after its rung (1, 2, 4, 8, 16 s by default): after a ten-second failover, the events that
 * arrived during it reached their users up to about ten seconds after Redis was back, out of
 * order, each having cost the broker several more messages. With the gate, the first batch that
 * fails on Redis itself closes it; that batch goes to the ladder as before (it has failed), and
 * the next batch waits in the consumer, unacked, with the rest of the queue behind the prefetch
 * window, still in RabbitMQ's hands (a crash redelivers them). A PING every `probeIntervalMs`
 * opens the gate again, and the waiting events commit at once.
 *
 * A hold ends after `maxHoldMs` even with Redis still down: the waiting batch then runs, fails
 * and goes to the ladder, and the gate closes again for the next one. So no message is held
 * longer than that (a broker's consumer timeout, or a quorum queue's redelivery count, never
 * sees a message held for the outage's whole length), and a Redis that answers PING but fails
 * every script (a reply the rule counts as an outage, such as OOM) costs one batch per hold, not
 * a loop. 0 turns the gate off: every event goes to the ladder as it fails.
 *
 * The probe's interval is a process timer, but it delays no message: what waits is held by the
 * broker, unacked, and the ladder's delays stay in the broker.
 */
export interface RedisGateSettings {
  /** CONSUMER_REDIS_OUTAGE_HOLD_MS: longest a batch waits for Redis; 0 = no gate. */
  maxHoldMs: number;
  /** Between two PINGs while the gate is closed. */
  probeIntervalMs: number;
}

export type HoldEnd = 'answered' | 'expired' | 'released';

export interface RedisGateHooks {
  closed?(): void;
  /** `heldMs`: how long the gate was closed; `ended`: Redis answered, the hold ran out, or shutdown released it. */
  opened?(heldMs: number, ended: HoldEnd): void;
}

export class RedisGate {
  private closedAtMs: number | undefined;
  private released = false;
  private probing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly settings: RedisGateSettings,
    private readonly hooks: RedisGateHooks = {},
  ) {}

  get isClosed(): boolean {
    return this.closedAtMs !== undefined;
  }

  /** A batch's results: one that says Redis itself is down closes the gate. */
  note(results: readonly unknown[]): void {
    if (this.settings.maxHoldMs === 0 || this.released || this.closedAtMs !== undefined) return;
    if (!results.some((r) => r instanceof Error && isRedisOutage(r))) return;
    this.closedAtMs = Date.now();
    this.hooks.closed?.();
  }

  /** Resolves at once while open; when closed, once Redis answers a PING, the hold runs out, or `release()`. */
  whenOpen(): Promise<void> {
    if (this.closedAtMs === undefined) return Promise.resolve();
    return (this.probing ??= this.probe().finally(() => (this.probing = undefined)));
  }

  /** At shutdown: nothing waits for Redis any more (what waits goes to the ladder, or back to its queue). */
  release(): void {
    this.released = true;
    this.stopPause?.();
  }

  private async probe(): Promise<void> {
    const closedAt = this.closedAtMs!;
    const left = () => this.settings.maxHoldMs - (Date.now() - closedAt);
    let answered = false;
    while (!this.released && left() > 0) {
      // ioredis fails a command while disconnected after its own reconnect attempts, and a reply
      // such as LOADING rejects it too: any answer but PONG keeps the gate closed. A server that
      // accepts and never answers is waited for only until the hold runs out.
      const ping = this.redis.ping().then(
        (reply) => reply === 'PONG',
        () => false,
      );
      answered = await Promise.race([ping, this.pause(left()).then(() => false)]);
      this.stopPause?.();
      if (answered) break;
      await this.pause(Math.min(this.settings.probeIntervalMs, left()));
    }
    this.closedAtMs = undefined;
    this.hooks.opened?.(Date.now() - closedAt, answered ? 'answered' : this.released ? 'released' : 'expired');
  }

  private stopPause: (() => void) | undefined;

  /** Resolves after `ms`, or at once on `release()` (or when the probe stops waiting on it). */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.released || ms <= 0) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        if (this.stopPause === done) this.stopPause = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopPause = done;
    });
  }
}

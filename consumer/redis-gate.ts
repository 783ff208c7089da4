import { isRedisOutage } from '../shared/dependency-outage.js';
import { keys } from '../shared/keys.js';
import type { Redis } from '../shared/redis.js';

/**
 * The consumer stops taking events while Redis is down, and starts again as soon as it takes
 * writes.
 *
 * Every step of an event's commit is in Redis, so during an outage every event fails the same way.
 * Taken anyway, each would go to the retry ladder (shared/amqp/envelope.ts) and come back only
 * after its rung (1, 2, 4, 8, 16 s by default): after a ten-second failover, the events that
 * arrived during it reached their users up to about ten seconds after Redis was back, out of
 * order, each having cost the broker several more messages. With the gate, the first batch that
 * fails on Redis itself closes it; that batch goes to the ladder as before (it has failed), and
 * the next batch waits in the consumer, unacked, with the rest of the queue behind the prefetch
 * window, still in RabbitMQ's hands (a crash redelivers them). A probe every `probeIntervalMs`,
 * from the moment the gate closes whether or not a batch waits, opens the gate again, and the
 * waiting events commit at once. The probe is a write (`SET` of a key that expires in a
 * second): a server that answers but refuses writes (OOM, READONLY after a failover, NOREPLICAS)
 * keeps the gate closed, since every commit would fail there too. Redis is seen back at the Redis
 * client's next reconnect attempt (they are at most 2 s apart, shared/redis.ts), which the
 * commits would wait for anyway.
 *
 * A single Redis server only. On a Redis Cluster an outage is usually one master's slots: the
 * events of every other slot must go on committing, so there the gate never closes and the lost
 * slot's events go down the ladder as before.
 *
 * One hold per outage, of at most `maxHoldMs`: if Redis is still down then, the gate opens
 * (`expired`) and, if a batch was waiting on it, does not close again until a batch has committed
 * something, so every event goes down the ladder as it would without the gate (a hold that held
 * nothing does not count). A message therefore waits in the consumer at most the hold plus the
 * time the batches ahead of it take to fail (each waits through the Redis client's reconnect
 * attempts, several seconds while Redis is unreachable): keep it well under the broker's
 * consumer_timeout. 0 turns the gate off.
 *
 * The probe's interval is a process timer, but it delays no message: what waits is held by the
 * broker, unacked, and the ladder's delays stay in the broker.
 */
export interface RedisGateSettings {
  /** CONSUMER_REDIS_OUTAGE_HOLD_MS: longest hold per outage; 0 = no gate. */
  maxHoldMs: number;
  /** Between two probes while the gate is closed. */
  probeIntervalMs: number;
}

export type HoldEnd = 'answered' | 'expired' | 'released';

export interface RedisGateHooks {
  closed?(): void;
  /** `heldMs`: how long the gate was closed; `ended`: Redis took a write, the hold ran out, or shutdown released it. */
  opened?(heldMs: number, ended: HoldEnd): void;
}

export class RedisGate {
  private closedAtMs: number | undefined;
  /** False from a hold that ran out until a batch commits something: one hold per outage. */
  private armed = true;
  private released = false;
  private probing: Promise<void> | undefined;
  /** A batch waited on the current hold. */
  private waited = false;
  private stopPause: (() => void) | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly settings: RedisGateSettings,
    private readonly hooks: RedisGateHooks = {},
  ) {}

  get isClosed(): boolean {
    return this.closedAtMs !== undefined;
  }

  /** A batch's commit results: one that says Redis itself is down closes the gate. */
  note(results: readonly unknown[]): void {
    if (this.settings.maxHoldMs === 0 || this.redis.isCluster || this.released || this.closedAtMs !== undefined) return;
    const down = results.some((r) => r instanceof Error && isRedisOutage(r));
    if (!down) {
      if (results.some((r) => !(r instanceof Error))) this.armed = true;
      return;
    }
    if (!this.armed) return;
    this.closedAtMs = Date.now();
    this.waited = false;
    this.hooks.closed?.();
    this.probing = this.probe().finally(() => (this.probing = undefined));
  }

  /** Resolves at once while open; when closed, once Redis takes a write, the hold runs out, or `release()`. */
  whenOpen(): Promise<void> {
    if (this.closedAtMs === undefined || this.probing === undefined) return Promise.resolve();
    this.waited = true;
    return this.probing;
  }

  /** At shutdown: nothing waits for Redis any more (what waits runs: committed, onto the ladder, or left unacked). */
  release(): void {
    this.released = true;
    this.stopPause?.();
  }

  /** True when Redis took the probe's write; any error is false. */
  private async answers(): Promise<boolean> {
    try {
      return (await this.redis.set(keys.redisGateProbe(), '1', 'PX', 1000)) === 'OK';
    } catch {
      return false;
    }
  }

  private async probe(): Promise<void> {
    const closedAt = this.closedAtMs!;
    const left = () => this.settings.maxHoldMs - (Date.now() - closedAt);
    let answered = false;
    while (!this.released && left() > 0) {
      // A server that accepts and never answers is waited for only until the hold runs out.
      answered = await Promise.race([this.answers(), this.pause(left()).then(() => false)]);
      this.stopPause?.();
      if (answered) break;
      await this.pause(Math.min(this.settings.probeIntervalMs, left()));
    }
    this.closedAtMs = undefined;
    const ended: HoldEnd = answered ? 'answered' : this.released ? 'released' : 'expired';
    if (ended === 'expired' && this.waited) this.armed = false;
    this.hooks.opened?.(Date.now() - closedAt, ended);
  }

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

import { randomBytes } from 'node:crypto';
import type { Redis } from '../shared/redis.js';
import { errorMessage } from '../shared/errors.js';
import { keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { LuaScript } from '../shared/lua.js';
import { WAKE_ROUTE_LUA } from '../shared/wake-channel.js';
import type { WsMetrics } from './metrics.js';
import type { ConnectionRegistry } from './registry.js';
import type { RouteRegistration } from './replay-state.js';

const REFRESH = LuaScript.fromFile(new URL('./route-refresh.lua', import.meta.url), { WAKE_ROUTE: WAKE_ROUTE_LUA });

/** A fresh id per process: a restarted instance never inherits the registrations of its past life. */
export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Keeps `instanceId` in the route of each user for another `ttlMs` (route-refresh.lua), one
 * script call per user. The calls are issued together and leave as one pipeline through the
 * client's auto-pipelining, the queue AUTH registrations and releases also go through: an
 * explicit pipeline would be written at once, ahead of commands queued before it, and find an
 * AUTH's registration "lapsed" only because it overtook it. Resolves, per user, with whether the
 * registration was still live before (false: it had lapsed) or the error of that user's call.
 */
export async function registerRoutes(
  redis: Redis,
  instanceId: string,
  userIds: string[],
  ttlMs: number,
): Promise<Array<boolean | Error>> {
  const ttl = String(ttlMs);
  return Promise.all(
    userIds.map((userId) =>
      REFRESH.run(redis, [keys.wsRoute(userId)], [instanceId, ttl]).then(
        (r) => r === 1,
        (err: unknown) => (err instanceof Error ? err : new Error(errorMessage(err))),
      ),
    ),
  );
}

export interface InstanceRouteOptions {
  instanceId: string;
  ttlMs: number;
  refreshMs: number;
}

/**
 * This ws-server instance's entries in the user → instance registry (shared/wake-channel.ts has
 * the rule and the publishers' side). AUTH registers (replay-state.lua, in the call that reads
 * the replay); a refresh round every `refreshMs` extends every user held here by `ttlMs`, in
 * one pipelined write however many sockets; the user's last socket closing here removes it.
 * All three go through the client's auto-pipeline queue, so Redis applies them in the order this
 * process issued them: a release is never applied after a later AUTH's registration.
 *
 * A round that finds a registration lapsed (the instance was stalled past the TTL, a refresh
 * failed, Redis lost the write in a failover) reports the user: wakes published meanwhile went
 * to no one here, so the caller resyncs the user's sockets from the buffer, as after a lost
 * subscription. That is why no broadcast fallback is needed: a missed registration costs
 * latency up to one refresh round, never a notification.
 */
export class InstanceRoute {
  readonly instanceId: string;
  readonly registration: RouteRegistration;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly connections: ConnectionRegistry,
    private readonly options: InstanceRouteOptions,
    private readonly onLapsed: (userIds: string[]) => void,
    private readonly metrics: WsMetrics,
    private readonly logger: Logger,
  ) {
    this.instanceId = options.instanceId;
    this.registration = { instanceId: options.instanceId, ttlMs: options.ttlMs };
  }

  start(): void {
    this.schedule();
  }

  /** Rounds never overlap: the next is timed from the end of the previous one. */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule());
    }, this.options.refreshMs);
    this.timer.unref();
  }

  /** One round: every user with a socket here, one pipeline. */
  async refresh(): Promise<void> {
    const users = this.connections.users();
    if (users.length === 0) return;
    const results = await registerRoutes(this.redis, this.instanceId, users, this.options.ttlMs);
    const lapsed: string[] = [];
    let failed = 0;
    let firstError: Error | undefined;
    results.forEach((r, i) => {
      if (r instanceof Error) {
        failed += 1;
        firstError ??= r;
      } else if (!r && this.connections.sessionsOf(users[i]!).length > 0) {
        lapsed.push(users[i]!);
      }
    });
    if (failed > 0) {
      this.metrics.routeRefreshFailures.inc(failed);
      // Tried again next round; the TTL is a few rounds long, so one failed round loses nothing.
      this.logger.warn(
        { err: errorMessage(firstError), users: failed },
        'wake route refresh failed; retried next round',
      );
    }
    if (lapsed.length > 0) {
      this.metrics.routeLapsed.inc(lapsed.length);
      this.logger.info({ users: lapsed.length }, 'wake routes had lapsed; resyncing those users from the buffer');
      this.onLapsed(lapsed);
    }
  }

  /**
   * The user's last socket here closed. Issued at once into the auto-pipeline queue AUTH
   * registers through, so a later AUTH of the same user here is applied after it; if it fails the
   * entry expires with its TTL, costing only wakes that reach no socket.
   */
  release(userId: string): void {
    this.redis.zrem(keys.wsRoute(userId), this.instanceId).catch((err: unknown) => {
      this.logger.debug({ err: errorMessage(err), userId }, 'wake route not removed; it expires');
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

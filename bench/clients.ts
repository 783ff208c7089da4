import { createClient, type NotificationClient, type WebSocketConstructor } from '../client/index.js';
import { signUserToken } from '../shared/auth/jwt.js';
import type { AckFrame } from '../shared/protocol/frames.js';
import type { Tracker } from './tracker.js';
import { benchWebSocket } from './websocket.js';

/** Each client sends one ACK frame per this delay for everything it received since the last one. */
const ACK_DELAY_MS = 25;
const ACK_FRAME_START = '{"type":"ACK"';

/**
 * The bench's live clients, one per user, on the project's client (client/index.ts): token AUTH,
 * every notification acked (the client batches: one frame per ACK_DELAY_MS, well under
 * WS_MAX_FRAMES_PER_SECOND, of at most the server's WS_MAX_ACK_BATCH ids, so a replay larger
 * than that is acked over several frames).
 *
 * What the bench counts comes from the wire, not from the client's events: the tracker sees every
 * NOTIFICATION frame through the client's 'frame' event (redeliveries and repeats after an ACK
 * included, which the 'notification' event deduplicates away), and the wall clock of each ACK
 * frame as it is sent (bench/persistence.ts compares it with MongoDB's persistedAt).
 *
 * The harness decides when clients connect (a reconnect storm is the scenario, not a side effect),
 * so the clients never reconnect on their own; and they send no PING (the server's protocol
 * pings keep idle sockets alive), so no timer is re-armed per frame.
 */
export class ClientFleet {
  private readonly clients: NotificationClient[] = [];
  /** Each user's latest client, so isConnected stays O(1) with 10,000 clients. */
  private readonly byUser = new Map<string, NotificationClient>();
  private readonly tokens = new Map<string, string>();
  private readonly WebSocket: WebSocketConstructor;
  closedByServer = 0;
  authFailures = 0;
  /** ERROR frames from the server: a protocol mistake of the harness or an UNAVAILABLE store. */
  errors = 0;
  /** createClient → AUTH_OK of every client that authenticated, in ms (auth-burst reads it). */
  readonly authLatenciesMs: number[] = [];
  /** Called for every NOTIFICATION frame, repeats included (the fanout scenario counts per user). */
  onNotification: ((userId: string, notificationId: string, objectId: string | null) => void) | undefined;

  private readonly wsPorts: readonly number[];
  /** The ws-server each user's clients connect to: round-robin over `wsPorts` in order of first connect. */
  private readonly portOfUser = new Map<string, number>();

  constructor(
    /** The ws-server, or several (`--instances`): users are spread over them round-robin. */
    wsPorts: number | readonly number[],
    private readonly jwtSecret: string,
    private readonly tracker: Tracker | undefined,
    /** The server's WS_MAX_ACK_BATCH (`stack.config.ws.maxAckBatch`). */
    private readonly maxAckBatch: number,
  ) {
    this.wsPorts = typeof wsPorts === 'number' ? [wsPorts] : [...wsPorts];
    this.WebSocket = benchWebSocket({ onSend: tracker ? (data) => this.onSend(data, tracker) : undefined });
  }

  /** A user keeps its ws-server across reconnects, as a sticky load balancer would keep it. */
  private portFor(userId: string): number {
    const port = this.portOfUser.get(userId);
    if (port !== undefined) return port;
    const next = this.wsPorts[this.portOfUser.size % this.wsPorts.length];
    if (next === undefined) throw new Error('ClientFleet needs at least one ws-server port');
    this.portOfUser.set(userId, next);
    return next;
  }

  /** Users assigned to each ws-server port so far. */
  usersByPort(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const port of this.portOfUser.values()) out[port] = (out[port] ?? 0) + 1;
    return out;
  }

  get size(): number {
    return this.clients.filter((c) => c.state === 'open').length;
  }

  isConnected(userId: string): boolean {
    return this.byUser.get(userId)?.state === 'open';
  }

  private async token(userId: string): Promise<string> {
    let token = this.tokens.get(userId);
    if (!token) {
      token = await signUserToken(userId, this.jwtSecret, 24 * 3600);
      this.tokens.set(userId, token);
    }
    return token;
  }

  /**
   * Connects and authenticates `userIds`, `concurrency` handshakes at a time. Resolves with the
   * failures (closed before AUTH_OK, e.g. 4401 when the server took longer than
   * AUTH_TIMEOUT_MS to answer); `connectAll` is the variant for scenarios that need every one.
   */
  async connect(userIds: string[], concurrency = 200): Promise<string[]> {
    await this.prepareTokens(userIds);
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < userIds.length) {
        const userId = userIds[next++];
        if (userId === undefined) continue;
        await this.connectOne(userId, await this.token(userId)).catch((err: unknown) =>
          failures.push(err instanceof Error ? err.message : String(err)),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, userIds.length) }, worker));
    return failures;
  }

  async connectAll(userIds: string[], concurrency = 200): Promise<void> {
    const failures = await this.connect(userIds, concurrency);
    if (failures.length > 0)
      throw new Error(`${failures.length} of ${userIds.length} clients could not authenticate, e.g. ${failures[0]}`);
  }

  /** Pre-signs tokens so a reconnect storm measures the server, not the client's signing. */
  async prepareTokens(userIds: string[]): Promise<void> {
    for (const userId of userIds) await this.token(userId);
  }

  private connectOne(userId: string, token: string): Promise<void> {
    const startedAt = performance.now();
    const client = createClient({
      url: `ws://127.0.0.1:${this.portFor(userId)}/`,
      token,
      WebSocket: this.WebSocket,
      ackDelayMs: ACK_DELAY_MS,
      maxAckBatch: this.maxAckBatch,
      reconnect: false,
      heartbeat: false,
    });
    this.clients.push(client);
    this.byUser.set(userId, client);
    client.on('frame', (frame) => {
      if (frame.type === 'NOTIFICATION') {
        const { id, objectId } = frame.notification;
        this.onNotification?.(userId, id, objectId);
        this.tracker?.recordReceived(id, objectId);
      } else if (frame.type === 'ERROR') {
        this.errors++;
      }
    });
    client.on('notification', (n) => client.ack(n.id));
    return new Promise((resolve, reject) => {
      let authed = false;
      let lastError = '';
      const stopErrors = client.on('error', (e) => (lastError = e.message));
      client.on('state', ({ state, code, reason }) => {
        if (state === 'open' && !authed) {
          authed = true;
          stopErrors();
          this.authLatenciesMs.push(performance.now() - startedAt);
          resolve();
        } else if (state === 'closed' && !authed) {
          this.authFailures++;
          reject(
            new Error(
              `socket for ${userId} closed before AUTH_OK (code ${code}${reason ? ` ${reason}` : ''})${lastError ? `: ${lastError}` : ''}`,
            ),
          );
        } else if (state === 'closed' && code !== 1000 && code !== 1005) {
          this.closedByServer++;
        }
      });
    });
  }

  /** The wall clock of each ACK frame, per id: checked on the frame's first bytes, parsed only then. */
  private onSend(data: string, tracker: Tracker): void {
    if (!data.startsWith(ACK_FRAME_START)) return;
    const now = Date.now();
    for (const id of (JSON.parse(data) as AckFrame).notificationIds) tracker.recordAcked(id, now);
  }

  /** Closes every client (owed acks go out first, then a normal closure) and forgets them; the fleet can connect again. */
  async disconnectAll(): Promise<void> {
    const closing = this.clients.map((c) => c.close());
    this.clients.length = 0;
    this.byUser.clear();
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    await this.disconnectAll();
  }
}

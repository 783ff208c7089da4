import { WebSocket } from 'ws';
import { signUserToken } from '../shared/auth/jwt.js';
import type { Tracker } from './tracker.js';

/** How often each client sends one ACK frame for everything it received since the last one. */
const ACK_FLUSH_MS = 25;

interface Client {
  userId: string;
  ws: WebSocket;
  toAck: string[];
  authed: boolean;
}

/**
 * The real WebSocket clients: one per user, token AUTH, every NOTIFICATION recorded in the
 * tracker and ACKed in batches (one frame per flush, well under WS_MAX_FRAMES_PER_SECOND) of at
 * most the server's WS_MAX_ACK_BATCH ids: a replay larger than that is ACKed over several flushes.
 */
export class ClientFleet {
  private readonly clients: Client[] = [];
  /** Each user's latest client, so isConnected stays O(1) with 10,000 clients. */
  private readonly byUser = new Map<string, Client>();
  private readonly timer: NodeJS.Timeout;
  private tokens = new Map<string, string>();
  closedByServer = 0;
  authFailures = 0;
  /** ERROR frames from the server: a protocol mistake of the harness or an UNAVAILABLE store. */
  errors = 0;
  /** Socket opening → AUTH_OK of every client that authenticated, in ms (auth-burst reads it). */
  readonly authLatenciesMs: number[] = [];
  /** Called for every NOTIFICATION frame, repeats included (the fanout scenario counts per user). */
  onNotification: ((userId: string, notificationId: string, objectId: string | null) => void) | undefined;

  constructor(
    private readonly wsPort: number,
    private readonly jwtSecret: string,
    private readonly tracker: Tracker | undefined,
    /** The server's WS_MAX_ACK_BATCH (`stack.config.ws.maxAckBatch`). */
    private readonly maxAckBatch: number,
  ) {
    this.timer = setInterval(() => this.flushAcks(), ACK_FLUSH_MS);
  }

  get size(): number {
    return this.clients.filter((c) => c.authed && c.ws.readyState === WebSocket.OPEN).length;
  }

  isConnected(userId: string): boolean {
    const c = this.byUser.get(userId);
    return c !== undefined && c.authed && c.ws.readyState === WebSocket.OPEN;
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
        await this.connectOne(userId, await this.token(userId)).catch((err: unknown) => failures.push(err instanceof Error ? err.message : String(err)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, userIds.length) }, worker));
    return failures;
  }

  async connectAll(userIds: string[], concurrency = 200): Promise<void> {
    const failures = await this.connect(userIds, concurrency);
    if (failures.length > 0) throw new Error(`${failures.length} of ${userIds.length} clients could not authenticate, e.g. ${failures[0]}`);
  }

  /** Pre-signs tokens so a reconnect storm measures the server, not the client's signing. */
  async prepareTokens(userIds: string[]): Promise<void> {
    for (const userId of userIds) await this.token(userId);
  }

  private connectOne(userId: string, token: string): Promise<void> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.wsPort}/`, { perMessageDeflate: false });
    const client: Client = { userId, ws, toAck: [], authed: false };
    this.clients.push(client);
    this.byUser.set(userId, client);
    const startedAt = performance.now();
    return new Promise((resolve, reject) => {
      ws.on('open', () => ws.send(JSON.stringify({ type: 'AUTH', token })));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; notification?: { id: string; objectId: string | null } };
        if (frame.type === 'NOTIFICATION' && frame.notification) {
          const { id, objectId } = frame.notification;
          this.onNotification?.(userId, id, objectId);
          if (!this.tracker || this.tracker.recordReceived(id, objectId)) client.toAck.push(id);
        } else if (frame.type === 'AUTH_OK') {
          client.authed = true;
          this.authLatenciesMs.push(performance.now() - startedAt);
          resolve();
        } else if (frame.type === 'ERROR') {
          this.errors++;
        }
      });
      ws.on('close', (code) => {
        if (!client.authed) {
          this.authFailures++;
          reject(new Error(`socket for ${userId} closed before AUTH_OK (code ${code})`));
        } else if (code !== 1000 && code !== 1005) {
          this.closedByServer++;
        }
      });
      ws.on('error', (err) => {
        if (!client.authed) reject(err);
      });
    });
  }

  private flushAcks(): void {
    const now = Date.now();
    for (const client of this.clients) {
      if (client.toAck.length === 0 || client.ws.readyState !== WebSocket.OPEN) continue;
      const ids = client.toAck.splice(0, this.maxAckBatch);
      client.ws.send(JSON.stringify({ type: 'ACK', notificationIds: ids }));
      for (const id of ids) this.tracker?.recordAcked(id, now);
    }
  }

  /** Closes every socket (normal closure) and forgets them; the fleet can connect again. */
  async disconnectAll(): Promise<void> {
    this.flushAcks();
    const closing = this.clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close(1000);
        }),
    );
    this.clients.length = 0;
    this.byUser.clear();
    await Promise.all(closing);
  }

  async close(): Promise<void> {
    await this.disconnectAll();
    clearInterval(this.timer);
  }
}

import { WebSocket } from 'ws';

/** What one user's client saw over the whole run, across all its reconnects. */
export interface ClientRecord {
  userId: string;
  /** notification id → objectId of the notification (objectIds are unique per event here). */
  received: Map<string, string>;
  /** Ids the server confirmed with ACKED: from then on, seeing one again is a violation. */
  acked: Set<string>;
  /** Ids that arrived again after their ACKED. */
  duplicatesAfterAck: string[];
  connects: number;
}

interface Options {
  /** The ws-server ports alive right now (changes as instances are killed and restarted). */
  ports(): number[];
  token(userId: string): Promise<string>;
}

/**
 * A real WebSocket client that behaves like a well-written app: it AUTHs, ACKs every
 * notification at once, and reconnects (to any live instance) whenever its socket closes.
 */
class ChaosClient {
  readonly record: ClientRecord;
  private ws: WebSocket | undefined;
  private stopped = false;
  private authed = false;

  constructor(
    userId: string,
    private readonly options: Options,
  ) {
    this.record = { userId, received: new Map(), acked: new Set(), duplicatesAfterAck: [], connects: 0 };
  }

  get ready(): boolean {
    return this.authed && this.ws?.readyState === WebSocket.OPEN;
  }

  async connect(): Promise<void> {
    if (this.stopped) return;
    const ports = this.options.ports();
    const port = ports[Math.floor(Math.random() * ports.length)];
    if (port === undefined) {
      this.reconnectSoon();
      return;
    }
    const token = await this.options.token(this.record.userId);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    this.ws = ws;
    this.authed = false;
    ws.on('open', () => {
      this.record.connects++;
      ws.send(JSON.stringify({ type: 'AUTH', token }));
    });
    ws.on('message', (data) => this.onFrame(ws, String(data)));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.ws === ws) {
        this.authed = false;
        this.reconnectSoon();
      }
    });
  }

  private onFrame(ws: WebSocket, text: string): void {
    const frame = JSON.parse(text) as { type: string; ids?: string[]; notification?: { id: string; objectId: string } };
    if (frame.type === 'AUTH_OK') this.authed = true;
    if (frame.type === 'ACKED') for (const id of frame.ids ?? []) this.record.acked.add(id);
    if (frame.type === 'NOTIFICATION' && frame.notification) {
      const { id, objectId } = frame.notification;
      if (this.record.acked.has(id)) this.record.duplicatesAfterAck.push(id);
      this.record.received.set(id, objectId);
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ACK', notificationId: id }));
    }
  }

  private reconnectSoon(): void {
    if (this.stopped) return;
    setTimeout(() => void this.connect(), 200 + Math.random() * 500).unref();
  }

  /** Drops the socket without a close handshake (a phone going through a tunnel). */
  drop(): void {
    this.ws?.terminate();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}

export class ClientFleet {
  private readonly clients: ChaosClient[];
  private churn: NodeJS.Timeout | undefined;

  constructor(userIds: string[], options: Options) {
    this.clients = userIds.map((u) => new ChaosClient(u, options));
  }

  async connectAll(): Promise<void> {
    for (const c of this.clients) await c.connect();
  }

  readyCount(): number {
    return this.clients.filter((c) => c.ready).length;
  }

  /** Every second, a random `fraction` of the clients drop their socket and reconnect. */
  startChurn(fraction: number): void {
    this.churn = setInterval(() => {
      for (const c of this.clients) if (Math.random() < fraction) c.drop();
    }, 1000);
  }

  stopChurn(): void {
    clearInterval(this.churn);
  }

  /** Everyone reconnects once: wakes are hints, the AUTH replay is the guarantee. */
  reconnectAll(): void {
    for (const c of this.clients) c.drop();
  }

  records(): ClientRecord[] {
    return this.clients.map((c) => c.record);
  }

  stop(): void {
    this.stopChurn();
    for (const c of this.clients) c.stop();
  }
}

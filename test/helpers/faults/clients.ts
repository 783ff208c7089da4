import { WebSocket } from 'ws';
import {
  createClient,
  type NotificationClient,
  type ServerFrame,
  type WebSocketConstructor,
} from '../../../client/index.js';

/** What one user's client saw over the whole run, across all its reconnects. */
export interface ClientRecord {
  userId: string;
  /** notification id → objectId, as the app saw it ('notification' event; objectIds are unique per event here). */
  received: Map<string, string>;
  /** Ids the server confirmed with ACKED: from then on, a NOTIFICATION frame for one is a violation. */
  acked: Set<string>;
  /** Ids whose NOTIFICATION frame arrived again after their ACKED (seen on the wire, not through the client's dedupe). */
  duplicatesAfterAck: string[];
  /** Ids whose NOTIFICATION frame came again before their ACKED: at-least-once, allowed; the client emits them once. */
  redelivered: string[];
  connects: number;
}

interface Options {
  /** The ws-server ports alive right now (changes as instances are killed and restarted). */
  ports(): number[];
  token(userId: string): Promise<string>;
}

/**
 * No instance up (both ws-servers down at once): a port nothing listens on, so the connection is
 * refused and the client backs off, as behind a load balancer without a healthy backend.
 */
const NO_BACKEND_PORT = 1;

/**
 * A user's app on the project's client (client/index.ts): token AUTH through getToken, every
 * notification acked (batched by the client), reconnects and resume left to the client. Two
 * test-side additions, neither of which changes what the client does:
 * - its WebSocket stands in for the load balancer: each socket goes to a random live ws-server
 *   (ports change as instances restart), and the test keeps the socket to drop it;
 * - the ledger reads the server's frames from the client's 'frame' event, so a redelivery after
 *   ACKED is counted even though the client would never show it to the app twice.
 */
class FleetClient {
  readonly record: ClientRecord;
  private client: NotificationClient | undefined;
  private socket: WebSocket | undefined;

  constructor(
    userId: string,
    private readonly options: Options,
  ) {
    this.record = {
      userId,
      received: new Map(),
      acked: new Set(),
      duplicatesAfterAck: [],
      redelivered: [],
      connects: 0,
    };
  }

  get ready(): boolean {
    return this.client?.state === 'open';
  }

  start(): void {
    const { userId } = this.record;
    const client = createClient({
      url: 'ws://127.0.0.1/',
      getToken: () => this.options.token(userId),
      WebSocket: this.balancedSocket(),
      // The old hand-written client came back within 0.2-0.7 s; the same scale, with the client's jitter.
      reconnect: { initialDelayMs: 500, maxDelayMs: 5000 },
    });
    this.client = client;
    client.on('frame', (frame) => this.onFrame(frame));
    client.on('notification', (n) => {
      this.record.received.set(n.id, n.objectId ?? '');
      client.ack(n.id);
    });
    client.on('state', ({ state }) => {
      if (state === 'authenticating') this.record.connects++;
    });
  }

  private balancedSocket(): WebSocketConstructor {
    const pick = () => {
      const ports = this.options.ports();
      return ports[Math.floor(Math.random() * ports.length)] ?? NO_BACKEND_PORT;
    };
    const remember = (ws: WebSocket) => (this.socket = ws);
    function Balanced(): WebSocket {
      return remember(new WebSocket(`ws://127.0.0.1:${pick()}/`));
    }
    return Balanced as unknown as WebSocketConstructor;
  }

  /** Before the client acts on the frame: a NOTIFICATION is checked against the ACKEDs seen so far. */
  private onFrame(frame: ServerFrame): void {
    if (frame.type === 'ACKED') {
      for (const id of frame.ids) this.record.acked.add(id);
    } else if (frame.type === 'NOTIFICATION') {
      const { id } = frame.notification;
      if (this.record.acked.has(id)) this.record.duplicatesAfterAck.push(id);
      else if (this.record.received.has(id)) this.record.redelivered.push(id);
    }
  }

  /** Drops the socket without a close handshake (a phone going through a tunnel); the client reconnects. */
  drop(): void {
    this.socket?.terminate();
  }

  stop(): Promise<void> {
    return this.client?.close() ?? Promise.resolve();
  }
}

export class ClientFleet {
  private readonly clients: FleetClient[];
  private churn: NodeJS.Timeout | undefined;

  constructor(userIds: string[], options: Options) {
    this.clients = userIds.map((u) => new FleetClient(u, options));
  }

  /** Starts every client; each connects (and keeps reconnecting) on its own. */
  connectAll(): void {
    for (const c of this.clients) c.start();
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

  async stop(): Promise<void> {
    this.stopChurn();
    await Promise.all(this.clients.map((c) => c.stop()));
  }
}

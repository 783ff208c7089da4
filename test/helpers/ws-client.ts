import { WebSocket } from 'ws';
import { eventually } from './wait.js';

/** A server frame as the test sees it (plain JSON). */
export interface Frame {
  type: string;
  [key: string]: unknown;
}

export interface NotificationFrame extends Frame {
  type: 'NOTIFICATION';
  notification: { id: string; seq: number; type: string; priority: number; message: string; version: number };
}

/**
 * A real `ws` client for tests and benchmarks: records every frame it receives, in order, and
 * how the socket closed. Waiting is always bounded (`eventually`), never a timed assertion.
 */
export class WsTestClient {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly opened: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Frame));
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  static async connect(port: number): Promise<WsTestClient> {
    const client = new WsTestClient(new WebSocket(`ws://127.0.0.1:${port}/`));
    await client.opened;
    return client;
  }

  /** Connects, authenticates and waits for AUTH_OK (returned). */
  static async authed(port: number, auth: { token?: string; userId?: string; lastSeq?: number }): Promise<[WsTestClient, Frame]> {
    const client = await WsTestClient.connect(port);
    client.send({ type: 'AUTH', ...auth });
    const ok = await client.next('AUTH_OK');
    return [client, ok];
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  notifications(): NotificationFrame[] {
    return this.of('NOTIFICATION') as NotificationFrame[];
  }

  notificationIds(): string[] {
    return this.notifications().map((f) => f.notification.id);
  }

  /** The first frame of `type` not yet consumed by an earlier `next` of this type. */
  async next(type: string, what = type): Promise<Frame> {
    const seen = (this.consumed.get(type) ?? 0) + 1;
    const frame = await eventually(() => this.of(type)[seen - 1], { what: `${what} frame` });
    this.consumed.set(type, seen);
    return frame;
  }
  private readonly consumed = new Map<string, number>();

  async waitForNotifications(count: number): Promise<NotificationFrame[]> {
    return eventually(() => (this.notifications().length >= count ? this.notifications() : undefined), {
      what: `${count} notifications (have ${this.notifications().length})`,
    });
  }

  async waitClosed(): Promise<{ code: number; reason: string }> {
    return eventually(() => this.closed, { what: 'socket close' });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

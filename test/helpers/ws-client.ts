import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type {
  AuthFrame,
  AuthOkFrame,
  ClientFrame,
  NotificationFrame,
  ServerFrame,
  ServerFrameType,
} from '../../shared/protocol/frames.js';
import { eventually } from './wait.js';

/** A server frame as the test sees it: the shared protocol's types (shared/protocol/frames.ts). */
export type Frame = ServerFrame;
export type FrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
export type { NotificationFrame };

/**
 * The raw-frame wrapper for tests that speak the protocol by hand: malformed and out-of-order
 * frames, limits, auth errors, exact frame sequences. Tests that behave like an app (receive,
 * ack, reconnect) use the project's client instead (test/helpers/app-client.ts). Records every
 * frame it receives, in order, and how the socket closed; waiting is always bounded
 * (`eventually`), never a timed assertion.
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
  static async authed(port: number, auth: Omit<AuthFrame, 'type'>): Promise<[WsTestClient, AuthOkFrame]> {
    const client = await WsTestClient.connect(port);
    client.send({ type: 'AUTH', ...auth });
    const ok = await client.next('AUTH_OK');
    return [client, ok];
  }

  /**
   * A protocol frame, or anything else on purpose (malformed input): a string goes out verbatim,
   * any other value as its JSON.
   */
  send(frame: ClientFrame | unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  of<T extends ServerFrameType>(type: T): FrameOf<T>[] {
    return this.frames.filter((f): f is FrameOf<T> => f.type === type);
  }

  notifications(): NotificationFrame[] {
    return this.of('NOTIFICATION');
  }

  notificationIds(): string[] {
    return this.notifications().map((f) => f.notification.id);
  }

  /** The first frame of `type` not yet consumed by an earlier `next` of this type. */
  async next<T extends ServerFrameType>(type: T, what: string = type): Promise<FrameOf<T>> {
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

/**
 * REPLAY_DONE without its `seq`, which must be a whole number (the client's resume point after a
 * catch-up, client/resume.ts): most tests compare the counts, whose seq depends on their setup.
 */
export function replayCounts(frame: FrameOf<'REPLAY_DONE'>): Omit<FrameOf<'REPLAY_DONE'>, 'seq'> {
  const { seq, ...counts } = frame;
  assert.ok(seq !== undefined && Number.isSafeInteger(seq) && seq >= 0, `REPLAY_DONE's seq: ${JSON.stringify(frame)}`);
  return counts;
}

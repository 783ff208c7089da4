import {
  createClient,
  type ClientNotification,
  type ClientOptions,
  type ClientState,
  type ErrorEvent,
  type NotificationClient,
  type ResumeEvent,
  type ServerFrame,
  type StateEvent,
  type UnreadEvent,
} from '../../client/index.js';
import type { ServerFrameType } from '../../shared/protocol/frames.js';
import { eventually } from './wait.js';
import type { FrameOf } from './ws-client.js';

export type AppAuth = Pick<ClientOptions, 'token' | 'getToken' | 'userId' | 'lastSeq'>;

/**
 * A test's app on the project's client (client/index.ts), for tests that behave like an app:
 * receive, ack, reconnect. It keeps everything the client emitted, in order, and the server's
 * frames from the client's 'frame' event, so a test can check the wire contract (AUTH_OK's
 * fields, ACKED, REPLAY_DONE) next to what the app was shown. Waiting is always bounded
 * (`eventually`), never a timed assertion. Tests that send raw or malformed frames use
 * test/helpers/ws-client.ts.
 */
export class AppClient {
  readonly client: NotificationClient;
  readonly notifications: ClientNotification[] = [];
  readonly unread: UnreadEvent[] = [];
  readonly states: StateEvent[] = [];
  readonly resumes: ResumeEvent[] = [];
  readonly errors: ErrorEvent[] = [];
  readonly frames: ServerFrame[] = [];
  private readonly consumed = new Map<string, number>();

  constructor(options: ClientOptions) {
    this.client = createClient(options);
    this.client.on('notification', (n) => this.notifications.push(n));
    this.client.on('unread', (u) => this.unread.push(u));
    this.client.on('state', (s) => this.states.push(s));
    this.client.on('resume', (r) => this.resumes.push(r));
    this.client.on('error', (e) => this.errors.push(e));
    this.client.on('frame', (f) => this.frames.push(f));
  }

  /** A client for ws://127.0.0.1:<port>, once it is open (AUTH_OK received). */
  static async open(port: number, auth: AppAuth, options: Partial<ClientOptions> = {}): Promise<AppClient> {
    const app = new AppClient({ url: `ws://127.0.0.1:${port}`, ...auth, ...options });
    await app.waitForState('open');
    return app;
  }

  /** The AUTH_OK of the latest connection. */
  authOk(): FrameOf<'AUTH_OK'> {
    const ok = this.of('AUTH_OK').at(-1);
    if (!ok) throw new Error('no AUTH_OK yet');
    return ok;
  }

  of<T extends ServerFrameType>(type: T): FrameOf<T>[] {
    return this.frames.filter((f): f is FrameOf<T> => f.type === type);
  }

  /** The first frame of `type` not yet consumed by an earlier `next` of this type. */
  async next<T extends ServerFrameType>(type: T, options: { timeoutMs?: number } = {}): Promise<FrameOf<T>> {
    const seen = (this.consumed.get(type) ?? 0) + 1;
    const frame = await eventually(() => this.of(type)[seen - 1], { what: `${type} frame`, ...options });
    this.consumed.set(type, seen);
    return frame;
  }

  /** Acks through the client (batched); resolves once ACKED frames have confirmed every id. */
  async ack(...ids: string[]): Promise<void> {
    for (const id of ids) this.client.ack(id);
    await eventually(
      () => {
        const confirmed = new Set(this.of('ACKED').flatMap((f) => f.ids));
        return ids.every((id) => confirmed.has(id));
      },
      { what: `ACKED for ${ids.join(', ')}` },
    );
  }

  async waitForNotifications(count: number): Promise<ClientNotification[]> {
    return eventually(() => (this.notifications.length >= count ? this.notifications : undefined), {
      what: `${count} notifications (have ${this.notifications.length})`,
    });
  }

  /** The n-th (1-based) 'resume' event: the end of that connection's replay. */
  async resume(n = 1, options: { timeoutMs?: number } = {}): Promise<ResumeEvent> {
    return eventually(() => this.resumes[n - 1], { what: `resume #${n}`, ...options });
  }

  /** The first 'state' event into `state` from the `after`-th event on. */
  async waitForState(state: ClientState, after = 0): Promise<StateEvent> {
    return eventually(() => this.states.slice(after).find((s) => s.state === state), {
      what: `state ${state} (states so far: ${this.states.map((s) => s.state).join(' → ')}; errors: ${this.errors.map((e) => e.code).join(', ')})`,
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

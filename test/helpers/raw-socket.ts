import { connect, type Socket } from 'node:net';
import { eventually } from './wait.js';

/**
 * A bare TCP connection to a server, for what no HTTP or WebSocket client does: send nothing,
 * half a request line, or headers a line at a time. Records what the server sent and when it
 * closed the connection.
 */
export class RawConnection {
  private data = '';
  /** ms from connect to close, once closed. */
  closedAfterMs: number | undefined;
  private readonly openedAt = performance.now();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.data += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closedAfterMs = performance.now() - this.openedAt));
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get received(): string {
    return this.data;
  }

  get closed(): boolean {
    return this.closedAfterMs !== undefined;
  }

  write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  /** Sends a line every `everyMs` while the connection is open (a slowloris); returns the stop. */
  dribble(line: () => string, everyMs: number): () => void {
    const timer = setInterval(() => this.write(line()), everyMs);
    this.socket.once('close', () => clearInterval(timer));
    return () => clearInterval(timer);
  }

  /** Waits for the server to close the connection; fails after `withinMs`. Resolves the ms it took. */
  async waitClosed(withinMs: number, what = 'the server to close the connection'): Promise<number> {
    return eventually(() => this.closedAfterMs, { timeoutMs: withinMs, intervalMs: 20, what });
  }

  /** Sends a keep-alive GET and waits for one complete response's status line. */
  async get(path: string): Promise<string> {
    const before = this.data.length;
    this.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`);
    const answer = await eventually(
      () => {
        const text = this.data.slice(before);
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
        return Buffer.byteLength(text.slice(end + 4)) >= length ? text : undefined;
      },
      { timeoutMs: 5000, what: `an answer to GET ${path}` },
    );
    return answer.split('\r\n')[0]!;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

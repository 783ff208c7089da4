import net from 'node:net';

/**
 * The load generator's HTTP/1.1 client: keep-alive connections on raw sockets, one request in
 * flight per connection, requests queued in order while every connection is busy.
 *
 * Why not `node:http` and its Agent: the load generator shares the machine's two cores with the
 * pipeline it measures, and its CPU counts in the machine's CPU per event. At 1,500 requests/s a
 * `node:http` client spends about 0.12 ms of CPU per request (request and response objects,
 * header validation, the agent's socket bookkeeping, streams), more than the producer's own HTTP
 * server; this one writes each request as one preformatted string and reads the answer with
 * a few `indexOf`s, about 0.07 ms (docs/performance.md "Fourteenth look"). Load generators
 * built for this (wrk, autocannon) are written the same way.
 *
 * It understands what an HTTP/1.1 server may answer: a `Content-Length` body, a chunked one, a
 * body that ends with the connection (no length), `Connection: close`, and interim 1xx answers
 * (skipped). Anything else it cannot read fails that request and drops the connection.
 */
export interface HttpAnswer {
  status: number;
  body: Buffer;
}

export type AnswerCallback = (err: Error | undefined, answer?: HttpAnswer) => void;

interface Pending {
  head: string;
  body: Buffer;
  done: AnswerCallback;
}

/**
 * A connection idle this long is closed rather than reused: the server may be closing it at the
 * same moment (Node's HTTP server closes keep-alive connections idle for 5 s), and a request
 * written into that race fails with a reset.
 */
const IDLE_REUSE_LIMIT_MS = 4000;

/** Answer heads larger than this are refused (the producer's are a few hundred bytes). */
const MAX_HEAD_BYTES = 64 * 1024;

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export class KeepAliveHttpClient {
  private readonly idle: Connection[] = [];
  private readonly queue: Pending[] = [];
  private open = 0;
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxConnections: number,
  ) {
    if (!Number.isInteger(maxConnections) || maxConnections < 1)
      throw new RangeError(`maxConnections must be a positive integer, not ${maxConnections}`);
  }

  /** Sends `POST path`; `headers` are extra lines (`name: value`), the body's length is added. */
  post(path: string, headers: readonly string[], body: string, done: AnswerCallback): void {
    if (this.closed) {
      done(new Error('the HTTP client is closed'));
      return;
    }
    const payload = Buffer.from(body, 'utf8');
    const lines = [`POST ${path} HTTP/1.1`, `host: ${this.host}:${this.port}`, ...headers];
    lines.push(`content-length: ${payload.length}`, '', '');
    this.queue.push({ head: lines.join('\r\n'), body: payload, done });
    this.dispatch();
  }

  /** Requests waiting for a free connection (not yet written). */
  get queued(): number {
    return this.queue.length;
  }

  /** Closes every connection; requests in flight or queued fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.done(new Error('the HTTP client is closed'));
    for (const connection of this.idle.splice(0)) connection.destroy();
    for (const connection of this.busy) connection.destroy();
  }

  private readonly busy = new Set<Connection>();

  private dispatch(): void {
    while (this.queue.length > 0) {
      let connection = this.takeIdle();
      if (!connection) {
        if (this.open >= this.maxConnections) return;
        connection = this.connect();
      }
      const pending = this.queue.shift()!;
      this.busy.add(connection);
      connection.send(pending);
    }
  }

  private takeIdle(): Connection | undefined {
    const now = performance.now();
    for (;;) {
      const connection = this.idle.pop();
      if (!connection) return undefined;
      if (now - connection.idleSince < IDLE_REUSE_LIMIT_MS) return connection;
      connection.destroy();
    }
  }

  private connect(): Connection {
    this.open++;
    return new Connection(net.connect({ host: this.host, port: this.port, noDelay: true }), {
      released: (connection) => {
        this.busy.delete(connection);
        if (this.closed) {
          connection.destroy();
          return;
        }
        this.idle.push(connection);
        this.dispatch();
      },
      ended: (connection) => {
        this.open--;
        this.busy.delete(connection);
        const at = this.idle.indexOf(connection);
        if (at >= 0) this.idle.splice(at, 1);
        if (!this.closed) this.dispatch();
      },
    });
  }
}

interface ConnectionEvents {
  /** The answer was read and the connection may carry another request. */
  released(connection: Connection): void;
  /** The socket is gone (closed by either side, or failed); called once. */
  ended(connection: Connection): void;
}

/** How the answer's body ends: after N bytes, after the last chunk, or with the connection. */
type BodyMode = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'until-close' };

class Connection {
  idleSince = 0;
  private pending: Pending | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private status = 0;
  private mode: BodyMode | undefined;
  private bodyParts: Buffer[] = [];
  private closeAfter = false;
  private gone = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly events: ConnectionEvents,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.end(err));
    socket.on('close', () => this.end(undefined));
    // The server may end its side after an answer without a length; that is the body's end.
    socket.on('end', () => this.end(undefined));
  }

  send(pending: Pending): void {
    this.pending = pending;
    this.status = 0;
    this.mode = undefined;
    this.bodyParts = [];
    this.closeAfter = false;
    // One write: head and body leave together (the socket has Nagle off).
    this.socket.write(
      pending.body.length === 0 ? pending.head : Buffer.concat([Buffer.from(pending.head, 'latin1'), pending.body]),
    );
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (!this.pending) {
      this.end(new Error('the server sent bytes with no request outstanding'));
      return;
    }
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    try {
      this.parse();
    } catch (err) {
      this.end(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Reads as much of the answer as has arrived; completes it when its body has ended. */
  private parse(): void {
    for (;;) {
      if (!this.mode) {
        const headEnd = this.buffered.indexOf(HEAD_END);
        if (headEnd < 0) {
          if (this.buffered.length > MAX_HEAD_BYTES) throw new Error('answer head too large');
          return;
        }
        const head = this.buffered.toString('latin1', 0, headEnd);
        this.buffered = this.buffered.subarray(headEnd + HEAD_END.length);
        const interim = this.readHead(head);
        if (interim) continue;
      }
      const mode = this.mode!;
      if (mode.kind === 'length') {
        const take = Math.min(mode.remaining, this.buffered.length);
        if (take > 0) {
          this.bodyParts.push(this.buffered.subarray(0, take));
          this.buffered = this.buffered.subarray(take);
          mode.remaining -= take;
        }
        if (mode.remaining > 0) return;
        this.complete();
        return;
      }
      if (mode.kind === 'until-close') {
        if (this.buffered.length > 0) this.bodyParts.push(this.buffered);
        this.buffered = Buffer.alloc(0);
        return;
      }
      // Chunked: size line, data, CRLF; a zero-size chunk, then trailers up to an empty line.
      for (;;) {
        const lineEnd = this.buffered.indexOf(CRLF);
        if (lineEnd < 0) return;
        const size = Number.parseInt(this.buffered.toString('latin1', 0, lineEnd).split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error('malformed chunk size');
        if (size === 0) {
          // Trailer lines, if any, end with an empty line; without trailers that is the CRLF
          // right after the size line's own.
          const end = this.buffered.indexOf(HEAD_END, lineEnd);
          if (end < 0) return;
          this.buffered = this.buffered.subarray(end + HEAD_END.length);
          this.complete();
          return;
        }
        const dataStart = lineEnd + CRLF.length;
        if (this.buffered.length < dataStart + size + CRLF.length) return;
        this.bodyParts.push(this.buffered.subarray(dataStart, dataStart + size));
        this.buffered = this.buffered.subarray(dataStart + size + CRLF.length);
      }
    }
  }

  /** Reads the status line and headers; true for an interim (1xx) answer, which has no body. */
  private readHead(head: string): boolean {
    const lines = head.split('\r\n');
    const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!statusLine) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
    const status = Number(statusLine[1]);
    if (status >= 100 && status < 200) return true;
    let length: number | undefined;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('malformed answer header');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) throw new Error('malformed Content-Length');
        length = Number(value);
      } else if (name === 'transfer-encoding')
        chunked = value
          .toLowerCase()
          .split(',')
          .some((v) => v.trim() === 'chunked');
      else if (name === 'connection')
        this.closeAfter ||= value
          .toLowerCase()
          .split(',')
          .some((v) => v.trim() === 'close');
    }
    if (lines[0]!.startsWith('HTTP/1.0')) this.closeAfter = true;
    this.status = status;
    // A 204 or 304 has no body whatever its headers say (RFC 9112 6.3).
    if (status === 204 || status === 304) this.mode = { kind: 'length', remaining: 0 };
    else if (chunked) this.mode = { kind: 'chunked' };
    else if (length !== undefined) this.mode = { kind: 'length', remaining: length };
    else {
      this.mode = { kind: 'until-close' };
      this.closeAfter = true;
    }
    return false;
  }

  private complete(): void {
    const pending = this.pending!;
    this.pending = undefined;
    const answer = {
      status: this.status,
      body: this.bodyParts.length === 1 ? this.bodyParts[0]! : Buffer.concat(this.bodyParts),
    };
    this.mode = undefined;
    this.bodyParts = [];
    if (this.buffered.length > 0) {
      // Bytes past the answer with no request outstanding: the connection cannot be trusted.
      pending.done(undefined, answer);
      this.end(new Error('the server sent bytes past its answer'));
      return;
    }
    if (this.closeAfter) {
      this.socket.destroy();
      pending.done(undefined, answer);
      this.end(undefined);
      return;
    }
    this.idleSince = performance.now();
    pending.done(undefined, answer);
    this.events.released(this);
  }

  /** The socket is gone: an answer read to the connection's end completes, anything else fails. */
  private end(err: Error | undefined): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.destroy();
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      if (!err && this.mode?.kind === 'until-close') {
        pending.done(undefined, { status: this.status, body: Buffer.concat(this.bodyParts) });
      } else {
        pending.done(err ?? new Error('the connection closed before the answer was complete'));
      }
    }
    this.events.ended(this);
  }
}

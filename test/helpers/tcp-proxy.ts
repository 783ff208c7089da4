import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../shared/config.js';

/**
 * Past this many bytes held from one connection, the proxy stops reading it, as a hung server's
 * full receive buffer would stop the client's writes.
 */
const HELD_LIMIT_BYTES = 1 << 20;

/**
 * A TCP pass-through to a real server that a test can cut and restore, to show how a service
 * behaves while its broker or store is unreachable without stopping the shared server itself.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** What each client connection sent since the last stall() that went nowhere. */
  private readonly held = new Map<Socket, Buffer[]>();
  /** The recording listener of each client connection held now (added once per stall). */
  private readonly holding = new Map<Socket, (chunk: Buffer) => void>();
  /** Each forwarded connection's two ends, so `unstall()` can join them again. */
  private readonly pairs = new Set<[Socket, Socket]>();
  port = 0;
  /** Connections accepted since the proxy was made: a client connecting again shows here. */
  private accepted = 0;

  constructor(
    private readonly targetHost: string,
    private targetPort: number,
  ) {}

  /** New connections go to another port (a restarted server); those open stay where they are. */
  retarget(port: number): void {
    this.targetPort = port;
  }

  async start(): Promise<this> {
    this.stalled = false;
    this.server = createServer((client) => {
      this.accepted += 1;
      if (this.stalled) {
        // Accepted, never answered: what a hung server looks like to a client.
        this.sockets.add(client);
        client.on('close', () => this.sockets.delete(client));
        client.on('error', () => client.destroy());
        this.clients.add(client);
        this.hold(client);
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      this.clients.add(client);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      client.pipe(upstream).pipe(client);
      if (this.answersHeldAfter) this.watchForAnswerHold(pair, this.answersHeldAfter);
      client.on('close', () => {
        this.pairs.delete(pair);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private stalled = false;
  /** The client side of each connection (the rest of `sockets` are the upstreams of forwarded ones). */
  private readonly clients = new WeakSet<Socket>();

  /**
   * Keeps every connection open but stops passing bytes, and accepts new ones without
   * answering: requests hang instead of failing, as with a server that stopped responding.
   * What clients send from now on is kept (heldIncludes), as a hung server's socket buffers would
   * take it in: the evidence that a request reached the server and hangs there.
   */
  stall(): void {
    this.stalled = true;
    this.held.clear();
    for (const s of this.sockets) {
      s.unpipe();
      if (this.clients.has(s)) this.hold(s);
      else s.pause();
    }
  }

  /** Records what a client sends from now on, forwarding none of it. */
  private hold(client: Socket): void {
    if (!this.holding.has(client)) {
      const record = (chunk: Buffer) => {
        const chunks = this.held.get(client) ?? [];
        this.held.set(client, chunks);
        chunks.push(chunk);
        if (chunks.reduce((n, c) => n + c.length, 0) >= HELD_LIMIT_BYTES) client.pause();
      };
      this.holding.set(client, record);
      client.on('data', record);
    }
    // unpipe() may have left it paused (backpressure, or no pipe left): nothing would be read.
    client.resume();
  }

  /** Whether one client connection sent `bytes` since the last stall(), which the proxy held. */
  heldIncludes(bytes: Buffer): boolean {
    for (const chunks of this.held.values()) if (Buffer.concat(chunks).includes(bytes)) return true;
    return false;
  }

  /**
   * Forwards new connections again. The held ones stay hung, as the connections a hung server
   * had open usually do: only a client that gives up on them (a deadline) gets its work through.
   */
  resume(): void {
    this.stalled = false;
  }

  /**
   * Ends a `stall()` for the connections it held too: what each side sent meanwhile (buffered
   * while paused) arrives late, as after a network hiccup, not a lost connection. Connections
   * accepted while stalled stay unanswered.
   */
  unstall(): void {
    this.stalled = false;
    for (const [client, upstream] of this.pairs) {
      // What the client sent meanwhile was recorded (hold), not left in its buffer: send it first.
      const record = this.holding.get(client);
      if (record) client.off('data', record);
      this.holding.delete(client);
      const chunks = this.held.get(client);
      if (chunks) upstream.write(Buffer.concat(chunks));
      this.held.delete(client);
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  /** What a client sends that makes the proxy hold the answers of its connection (holdAnswersAfter). */
  private answersHeldAfter: Buffer[] | undefined;
  private readonly answerWatches = new Map<Socket, (chunk: Buffer) => void>();

  /**
   * Passes every request on, but from the moment a client sends one of `bytes` (commands, see
   * mongoCommand) holds whatever the server answers on that connection: the server does the
   * work and the client never hears of it, as when an answer comes past the client's deadline.
   * For connections open now and those opened later, until releaseAnswers().
   */
  holdAnswersAfter(...bytes: Buffer[]): void {
    this.answersHeldAfter = bytes;
    for (const pair of this.pairs) this.watchForAnswerHold(pair, bytes);
  }

  private watchForAnswerHold([client, upstream]: [Socket, Socket], bytes: Buffer[]): void {
    if (this.answerWatches.has(client)) return;
    const watch = (chunk: Buffer) => {
      if (!bytes.some((b) => chunk.includes(b))) return;
      client.off('data', watch);
      this.answerWatches.delete(client);
      upstream.unpipe(client);
      upstream.pause();
    };
    this.answerWatches.set(client, watch);
    client.on('data', watch);
  }

  /** Ends holdAnswersAfter(): the held answers arrive (late), and new ones pass. */
  releaseAnswers(): void {
    this.answersHeldAfter = undefined;
    for (const [client, watch] of this.answerWatches) client.off('data', watch);
    this.answerWatches.clear();
    for (const [client, upstream] of this.pairs) {
      if (!upstream.isPaused()) continue;
      upstream.pipe(client);
      upstream.resume();
    }
  }

  connectionCount(): number {
    return this.accepted;
  }

  /** Drops every connection and refuses new ones until `start()` is called again. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.cut();
  }
}

/**
 * How a MongoDB command on `collection` looks on the wire, to find in what a stalled proxy held: an
 * OP_MSG body is a BSON document whose first element is the command, a string element (type 0x02)
 * whose value is the collection, e.g. { find: "notifications", ... }. The driver's heartbeats
 * (hello) never match. The services do not compress their MongoDB traffic, so it is readable.
 */
export function mongoCommand(command: string, collection: string): Buffer {
  const value = Buffer.from(`${collection}\0`);
  const length = Buffer.alloc(4);
  length.writeInt32LE(value.length);
  return Buffer.concat([Buffer.from([0x02]), Buffer.from(`${command}\0`), length, value]);
}

/** A proxy in front of the config's MongoDB, and a copy of the config that reaches MongoDB through it. */
export async function mongoBehindProxy(direct: Config): Promise<{ proxy: TcpProxy; config: Config }> {
  const target = new URL(direct.mongo.url);
  const proxy = await new TcpProxy(target.hostname, Number(target.port || 27017)).start();
  target.port = String(proxy.port);
  return { proxy, config: { ...direct, mongo: { ...direct.mongo, url: target.toString() } } };
}

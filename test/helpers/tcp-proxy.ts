import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../shared/config.js';

/**
 * A TCP pass-through to a real server that a test can cut and restore, to show how a service
 * behaves while its broker or store is unreachable without stopping the shared server itself.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

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
      if (this.stalled) {
        // Accepted, never answered: what a hung server looks like to a client.
        this.sockets.add(client);
        client.on('close', () => this.sockets.delete(client));
        client.on('error', () => client.destroy());
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private stalled = false;

  /**
   * Keeps every connection open but stops passing bytes, and accepts new ones without
   * answering: requests hang instead of failing, as with a server that stopped responding.
   */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /**
   * Forwards new connections again. The held ones stay hung, as the connections a hung server
   * had open usually do: only a client that gives up on them (a deadline) gets its work through.
   */
  resume(): void {
    this.stalled = false;
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

/** A proxy in front of the config's MongoDB, and a copy of the config that reaches MongoDB through it. */
export async function mongoBehindProxy(direct: Config): Promise<{ proxy: TcpProxy; config: Config }> {
  const target = new URL(direct.mongo.url);
  const proxy = await new TcpProxy(target.hostname, Number(target.port || 27017)).start();
  target.port = String(proxy.port);
  return { proxy, config: { ...direct, mongo: { ...direct.mongo, url: target.toString() } } };
}

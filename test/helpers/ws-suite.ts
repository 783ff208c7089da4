import { after, before } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import type { Config } from '../../shared/config.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from './cleanup.js';
import { testLogger } from './logger.js';
import { SimulatedConsumer } from './simulate-consumer.js';
import { WsTestClient } from './ws-client.js';

export interface WsSuite {
  server: WsServerService;
  consumer: SimulatedConsumer;
  /** Closed after the file's tests. */
  clients: WsTestClient[];
}

export interface WsPairSuite {
  a: WsServerService;
  b: WsServerService;
  consumer: SimulatedConsumer;
  /** Closed after the file's tests. */
  clients: WsTestClient[];
  /** A socket authenticated as `userId` on `server` (either instance, or any ws-server's port); kept in `clients`. */
  authed(server: { port: number }, userId: string): Promise<WsTestClient>;
  /** Closes the clients, both instances and the consumer, and cleans up; idempotent (the after hook calls it too). */
  close(): Promise<void>;
}

/** What both suites share: their servers, by name, with the consumer, the clients and `close`. */
type Servers<Name extends string> = Record<Name, WsServerService> &
  Omit<WsSuite, 'server'> &
  Pick<WsPairSuite, 'close'>;

/**
 * One ws-server per name on one config and a simulated consumer, for one test file: started
 * before its tests; closed (with every client the tests kept in `clients`) and cleaned up after
 * them, once, whether a test closed them early or start-up failed half-way.
 */
function wsServers<Name extends string>(config: Config, names: readonly Name[]): Servers<Name> {
  const started: WsServerService[] = [];
  let consumer: SimulatedConsumer | undefined;
  let closing: Promise<void> | undefined;
  const suite = {
    clients: [] as WsTestClient[],
    close: () =>
      (closing ??= (async () => {
        for (const c of suite.clients) c.close();
        for (const server of started) await server.close();
        await consumer?.close();
        await cleanupTestResources(config);
      })()),
  } as Servers<Name>;
  before(async () => {
    for (const name of names) {
      const server = await bootstrap(config, testLogger);
      started.push(server);
      (suite as Record<Name, WsServerService>)[name] = server;
    }
    suite.consumer = consumer = await SimulatedConsumer.start(config);
  });
  after(() => suite.close());
  return suite;
}

/** A ws-server and a simulated consumer for one test file. */
export function wsServerSuite(config: Config): WsSuite {
  return wsServers(config, ['server']);
}

/**
 * Two ws-server instances (A and B, each with its own instance id and wake channel) on one
 * config and a simulated consumer, for one test file: what a scaled-out deployment looks like.
 */
export function wsServerPairSuite(config: Config): WsPairSuite {
  const suite = wsServers(config, ['a', 'b']);
  return Object.assign(suite, {
    authed: async (server: { port: number }, userId: string) => {
      const [client] = await WsTestClient.authed(server.port, {
        token: await signUserToken(userId, config.auth.jwtSecret),
      });
      suite.clients.push(client);
      return client;
    },
  });
}

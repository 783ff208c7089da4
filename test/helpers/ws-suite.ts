import { after, before } from 'node:test';
import type { Config } from '../../shared/config.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from './cleanup.js';
import { testLogger } from './logger.js';
import { SimulatedConsumer } from './simulate-consumer.js';
import type { WsTestClient } from './ws-client.js';

export interface WsSuite {
  server: WsServerService;
  consumer: SimulatedConsumer;
  /** Closed after the file's tests. */
  clients: WsTestClient[];
}

/**
 * A ws-server and a simulated consumer for one test file: started before its tests, closed
 * (with every client the tests kept in `clients`) and cleaned up after them.
 */
export function wsServerSuite(config: Config): WsSuite {
  const suite = { clients: [] as WsTestClient[] } as WsSuite;
  before(async () => {
    suite.server = await bootstrap(config, testLogger);
    suite.consumer = await SimulatedConsumer.start(config);
  });
  after(async () => {
    for (const c of suite.clients) c.close();
    await suite.server.close();
    await suite.consumer.close();
    await cleanupTestResources(config);
  });
  return suite;
}

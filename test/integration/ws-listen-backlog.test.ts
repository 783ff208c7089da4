import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

const { config } = testEnv('wsbacklog', { WS_LISTEN_BACKLOG_CONNECTIONS: '1234' });

/** The kernel's view of a listening socket: for LISTEN sockets `ss` reports the backlog as Send-Q. */
function listenBacklog(port: number): number {
  const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const fields = out.split('\n')[0]?.trim().split(/\s+/) ?? [];
  assert.equal(fields[0], 'LISTEN', `ss output: ${out}`);
  return Number(fields[2]);
}

describe('ws-server: listen backlog', () => {
  let server: WsServerService;
  before(async () => {
    server = await bootstrap(config, testLogger);
  });
  after(async () => {
    await server.close();
    await cleanupTestResources(config);
  });

  it('listens with WS_LISTEN_BACKLOG_CONNECTIONS, not the 511 Node picks by default', () => {
    // A reconnect storm of thousands of sockets overflows 511: the kernel drops handshakes and
    // each client waits for its TCP retry (docs/performance.md, reconnect-storm).
    assert.equal(listenBacklog(server.port), 1234);
  });
});

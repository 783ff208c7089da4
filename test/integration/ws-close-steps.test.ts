import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import { signUserToken } from '../../shared/auth/jwt.js';
import { BackgroundLoads } from '../../shared/background.js';
import { AuthDeadlines } from '../../ws-server/auth-deadline.js';
import { bootstrap, type WsServerService } from '../../ws-server/bootstrap.js';
import { InstanceRoute } from '../../ws-server/route.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { WsTestClient } from '../helpers/ws-client.js';

const { config } = testEnv('wsclosesteps');

/*
 * close() runs every step even when one throws (shared/lifecycle.ts runAll): the first of the
 * synchronous stops failing must not leave the sockets open and the stores connected.
 */
describe('ws-server: close() when a step throws', () => {
  let server: WsServerService;

  before(async () => {
    server = await bootstrap(config, testLogger);
  });
  after(async () => {
    mock.restoreAll();
    await cleanupTestResources(config);
  });

  it('still runs the later steps, then reports the failure', async () => {
    const [client] = await WsTestClient.authed(server.port, {
      token: await signUserToken('closer', config.auth.jwtSecret),
    });
    mock.method(InstanceRoute.prototype, 'stop', () => {
      throw new Error('route stop failed');
    });
    const loadsClosed = mock.method(BackgroundLoads.prototype, 'close');
    const deadlinesStopped = mock.method(AuthDeadlines.prototype, 'stop');

    await assert.rejects(server.close(), /route stop failed/);

    assert.equal(loadsClosed.mock.callCount(), 1, 'background loads closed');
    assert.equal(deadlinesStopped.mock.callCount(), 1, 'AUTH deadlines stopped');
    assert.equal((await client.waitClosed()).code, 1001, 'the socket was told the server is going away');
    // QUIT was answered; the connection ends right after.
    await eventually(() => server.redis.status === 'end', { what: 'the Redis connection closed' });
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(server.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    assert.ok(refused, 'the listener was closed');
  });
});

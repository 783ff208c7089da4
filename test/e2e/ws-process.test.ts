import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { startBuilt, type RunningService } from '../helpers/process.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { AppClient } from '../helpers/app-client.js';

const { env, config } = testEnv('wsprocess', { WS_AUTH_MODE: 'dev' });

describe('the built ws-server process (dev auth mode), as an app on the project client reaches it', () => {
  let ws: RunningService;
  let consumer: SimulatedConsumer;
  let app: AppClient | undefined;
  before(async () => {
    ws = await startBuilt('ws-server', env);
    consumer = await SimulatedConsumer.start(config);
  });
  after(async () => {
    await app?.close();
    await ws.stop('SIGKILL');
    await consumer.close();
    await cleanupTestResources(config);
  });

  it('warns that dev mode accepts bare user ids', () => {
    assert.match(ws.output(), /WS_AUTH_MODE=dev/);
  });

  it('speaks the protocol end to end, and on SIGTERM closes sockets with 1001 and exits 0 keeping unacked ones pending', async () => {
    app = await AppClient.open(ws.port, { userId: 'user2' });
    assert.equal(app.authOk().userId, 'user2');
    const acked = await consumer.deliver(await consumer.make('user2'));
    const kept = await consumer.deliver(await consumer.make('user2'));
    assert.deepEqual(
      (await app.waitForNotifications(2)).map((n) => n.id),
      [acked.id, kept.id],
    );
    await app.ack(acked.id);

    const seen = app.states.length;
    const code = await ws.stop('SIGTERM');
    assert.equal(code, 0, ws.output());
    // 1001: the instance is going away, so the client sets out to reconnect at once (to another one).
    const lost = await app.waitForState('reconnecting', seen);
    assert.equal(lost.code, 1001);
    assert.deepEqual(
      (await readPending(consumer.redis, 'user2', 10)).notifications.map((n) => n.id),
      [kept.id],
    );
  });
});

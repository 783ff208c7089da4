import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readPending } from '../helpers/buffer.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { startBuilt, type RunningService } from '../helpers/process.js';
import { SimulatedConsumer } from '../helpers/simulate-consumer.js';
import { WsTestClient } from '../helpers/ws-client.js';

const { env, config } = testEnv('wsprocess', { WS_AUTH_MODE: 'dev' });

describe('the built ws-server process (dev auth mode), as a user reaches it with wscat', () => {
  let ws: RunningService;
  let consumer: SimulatedConsumer;
  before(async () => {
    ws = await startBuilt('ws-server', env);
    consumer = await SimulatedConsumer.start(config);
  });
  after(async () => {
    await ws.stop('SIGKILL');
    await consumer.close();
    await cleanupTestResources(config);
  });

  it('warns that dev mode accepts bare user ids', () => {
    assert.match(ws.output(), /WS_AUTH_MODE=dev/);
  });

  it('speaks the protocol end to end, and on SIGTERM closes sockets with 1001 and exits 0 keeping unacked ones pending', async () => {
    const [client, ok] = await WsTestClient.authed(ws.port, { userId: 'user2' });
    assert.equal(ok.userId, 'user2');
    const acked = await consumer.deliver(await consumer.make('user2'));
    const kept = await consumer.deliver(await consumer.make('user2'));
    await client.waitForNotifications(2);
    client.send({ type: 'ACK', notificationId: acked.id });
    assert.deepEqual((await client.next('ACKED')).ids, [acked.id]);

    const code = await ws.stop('SIGTERM');
    assert.equal(code, 0, ws.output());
    assert.equal((await client.waitClosed()).code, 1001);
    assert.deepEqual((await readPending(consumer.redis, 'user2', 10)).notifications.map((n) => n.id), [kept.id]);
  });
});

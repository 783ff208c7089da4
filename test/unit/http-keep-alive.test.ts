import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { connectionLimits, listen, type HttpServer } from '../../shared/http/server.js';

function get(port: number, agent: Agent): Promise<{ status: number; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP servers keep idle keep-alive sockets longer than their clients do', () => {
  let server: HttpServer;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  before(async () => {
    server = await listen((_req, res) => res.end('ok'), 0, '127.0.0.1', connectionLimits(loadConfig({}), 'producer'));
  });
  after(async () => {
    agent.destroy();
    await server.close();
  });

  it("answers a request on a socket that was idle longer than Node's 5 s default", async () => {
    assert.equal((await get(server.port, agent)).status, 200);
    await sleep(6000);
    // With the default the server would have closed this socket at 5 s; a client reusing it at
    // that moment gets "socket hang up" (the benchmark's load generator did).
    const second = await get(server.port, agent);
    assert.deepEqual(second, { status: 200, reusedSocket: true });
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';

/**
 * healthcheck.ts (the container health check) against a real HTTP server standing in for a
 * service's ops endpoint: it must probe /readyz on the port the service chose and turn the answer
 * into the exit code Docker reads.
 */
function probe(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'healthcheck.ts'],
      { env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', HTTP_HOST: '127.0.0.1', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('healthcheck.ts', () => {
  let server: Server;
  let port: number;
  let status = 200;
  const paths: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: status === 200 ? 'ready' : 'not ready' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  it('exits 0 when /readyz answers 200 on PORT', async () => {
    status = 200;
    const result = await probe({ SERVICE: 'consumer', PORT: String(port) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(paths.at(-1), '/readyz');
  });

  it("finds the service's own port variable when PORT is unset", async () => {
    status = 200;
    const result = await probe({ SERVICE: 'jobs', JOBS_PORT: String(port) });
    assert.equal(result.code, 0, result.stderr);
  });

  it('exits 1 when /readyz answers 503 (a store is down)', async () => {
    status = 503;
    const result = await probe({ SERVICE: 'producer', PORT: String(port) });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /answered 503/);
  });

  it('exits 1 when nothing listens, and when SERVICE is unset', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const freePort = (closed.address() as AddressInfo).port;
    closed.close();
    assert.equal((await probe({ SERVICE: 'ws-server', PORT: String(freePort) })).code, 1);
    const unset = await probe({ PORT: String(port) });
    assert.equal(unset.code, 1);
    assert.match(unset.stderr, /SERVICE must be set/);
  });
});

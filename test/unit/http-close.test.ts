import assert from 'node:assert/strict';
import { Agent, request, type RequestListener } from 'node:http';
import { describe, it } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { connectionLimits, listen } from '../../shared/http/server.js';

/*
 * close() with a long grace (the producer's covers its confirm timeout): a request in flight on
 * a keep-alive socket gets its answer, and then its socket closes, so close() ends with the last
 * answer instead of waiting out the grace (Node alone keeps serving that socket).
 */
const GRACE_MS = 10_000;
const HANDLER_MS = 300;

function get(port: number, agent: Agent): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function closeDuringRequest(handler: RequestListener) {
  // close() starts once the handler runs: a fixed sleep could start it before the request
  // arrived on a busy machine, and the client would see a reset instead of the case under test.
  let entered!: () => void;
  const inHandler = new Promise<void>((resolve) => (entered = resolve));
  const server = await listen(
    (req, res) => {
      handler(req, res);
      entered();
    },
    0,
    '127.0.0.1',
    connectionLimits(loadConfig({}), 'producer'),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const answer = get(server.port, agent);
    await inHandler;
    const startedMs = Date.now();
    const closed = server.close(GRACE_MS).then(() => Date.now() - startedMs);
    return { answer: await answer, closeMs: await closed };
  } finally {
    agent.destroy();
    await server.close();
  }
}

describe('HttpServer.close() with requests in flight', () => {
  it('answers the request with Connection: close and ends with it, not with the grace', async () => {
    const { answer, closeMs } = await closeDuringRequest((_req, res) => {
      setTimeout(() => res.end('ok'), HANDLER_MS);
    });
    assert.deepEqual(answer, { status: 200, connection: 'close', body: 'ok' });
    assert.ok(closeMs < HANDLER_MS + 1000, `closed ${closeMs} ms after close(), not at the ${GRACE_MS} ms grace`);
  });

  it('closes the socket after a response whose headers were already sent when close() started', async () => {
    const { answer, closeMs } = await closeDuringRequest((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('o');
      setTimeout(() => res.end('k'), HANDLER_MS);
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'ok');
    assert.ok(closeMs < HANDLER_MS + 1000, `closed ${closeMs} ms after close(), not at the ${GRACE_MS} ms grace`);
  });
});

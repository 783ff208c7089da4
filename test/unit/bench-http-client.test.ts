import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { KeepAliveHttpClient, type HttpAnswer } from '../../bench/http-client.js';

/** Sends one POST and resolves with its answer, or rejects with the client's error. */
function post(client: KeepAliveHttpClient, path: string, body: string, headers: string[] = []): Promise<HttpAnswer> {
  return new Promise((resolve, reject) =>
    client.post(path, headers, body, (err, answer) => (err ? reject(err) : resolve(answer!))),
  );
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * A server that answers each request with the bytes `answer` gives for it, written in pieces of
 * `piece` bytes, one write per piece, so the client sees the answer split anywhere.
 */
async function rawServer(answer: (requestNumber: number) => string, piece = Infinity) {
  let requests = 0;
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.setNoDelay(true);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      // Each request: a head, then a Content-Length body (the client always sends one).
      for (;;) {
        const headEnd = pending.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(pending.slice(0, headEnd))?.[1] ?? 0);
        if (pending.length < headEnd + 4 + length) return;
        pending = pending.slice(headEnd + 4 + length);
        const bytes = answer(++requests);
        if (piece === Infinity) socket.write(bytes, 'latin1');
        else {
          // Pieces leave a moment apart, so they arrive as separate reads.
          let at = 0;
          const next = () => {
            if (at >= bytes.length) return;
            socket.write(bytes.slice(at, at + piece), 'latin1');
            at += piece;
            setTimeout(next, 1);
          };
          next();
        }
      }
    });
  });
  const port = await listen(server);
  return { server, port, connections: () => connections, requests: () => requests };
}

describe('bench HTTP client (the load generator’s keep-alive client)', () => {
  const closers: (() => void)[] = [];
  after(() => closers.forEach((close) => close()));

  it('sends head, headers and body as node:http reads them, and reads Content-Length answers', async () => {
    const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body }));
      });
    });
    const port = await listen(server);
    const client = new KeepAliveHttpClient('127.0.0.1', port, 2);
    closers.push(() => (client.close(), server.close()));

    const body = JSON.stringify({ type: 'LIKE', note: 'é ✓' });
    const answer = await post(client, '/events', body, ['content-type: application/json', 'authorization: ApiKey k']);
    assert.equal(answer.status, 202);
    assert.deepEqual(JSON.parse(answer.body.toString('utf8')), { echo: body });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.url, '/events');
    assert.equal(seen[0]!.headers['content-type'], 'application/json');
    assert.equal(seen[0]!.headers.authorization, 'ApiKey k');
    assert.equal(seen[0]!.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(seen[0]!.body, body, 'a multi-byte body arrives whole');
  });

  it('queues requests beyond its connections, reuses them, and answers each request with its own answer', async () => {
    let connections = 0;
    let concurrent = 0;
    let mostConcurrent = 0;
    const server = http.createServer((req, res) => {
      concurrent++;
      mostConcurrent = Math.max(mostConcurrent, concurrent);
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      // Answers out of order across connections: later requests may finish first.
      req.on('end', () =>
        setTimeout(
          () => {
            concurrent--;
            res.writeHead(200).end(`re:${body}`);
          },
          Number(body) % 3,
        ),
      );
    });
    server.on('connection', () => connections++);
    const port = await listen(server);
    const client = new KeepAliveHttpClient('127.0.0.1', port, 3);
    closers.push(() => (client.close(), server.close()));

    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => post(client, '/x', String(i))));
    assert.deepEqual(
      answers.map((a) => a.body.toString()),
      Array.from({ length: 60 }, (_, i) => `re:${i}`),
    );
    assert.equal(connections, 3, 'three connections carried all 60 requests');
    assert.equal(mostConcurrent, 3, 'never more requests in flight than connections');
    assert.equal(client.queued, 0);
  });

  it('reads a chunked answer, with and without trailers', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, req.url === '/trailers' ? { trailer: 'x-done' } : {});
        res.write('first,');
        setTimeout(() => {
          res.write('second,');
          if (req.url === '/trailers') res.addTrailers({ 'x-done': 'yes' });
          res.end('third');
        }, 2);
      });
    });
    const port = await listen(server);
    const client = new KeepAliveHttpClient('127.0.0.1', port, 1);
    closers.push(() => (client.close(), server.close()));

    assert.equal((await post(client, '/plain', '')).body.toString(), 'first,second,third');
    assert.equal((await post(client, '/trailers', '')).body.toString(), 'first,second,third');
    // The connection is still usable after both.
    assert.equal((await post(client, '/plain', '')).status, 200);
  });

  it('reads an answer that arrives a few bytes at a time, and skips an interim 100', async () => {
    const raw = await rawServer(
      (n) => `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 9\r\nX-N: ${n}\r\n\r\nanswer-${n}x`,
      3,
    );
    const client = new KeepAliveHttpClient('127.0.0.1', raw.port, 1);
    closers.push(() => (client.close(), raw.server.close()));
    const first = await post(client, '/', 'a');
    const second = await post(client, '/', 'b');
    assert.equal(first.status, 202);
    assert.equal(first.body.toString(), 'answer-1x');
    assert.equal(second.body.toString(), 'answer-2x');
    assert.equal(raw.connections(), 1);
  });

  it('opens a new connection after Connection: close, and reads a body that ends with the connection', async () => {
    const raw = await rawServer((n) =>
      n === 1
        ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'
        : // No length and not chunked: the body is everything until the server closes.
          'HTTP/1.1 200 OK\r\n\r\nuntil the end',
    );
    // The second answer never ends unless the server closes: make it do so after writing.
    raw.server.on('connection', (socket) => socket.on('data', () => setTimeout(() => socket.end(), 20)));
    const client = new KeepAliveHttpClient('127.0.0.1', raw.port, 1);
    closers.push(() => (client.close(), raw.server.close()));
    assert.equal((await post(client, '/', '1')).body.toString(), 'ok');
    assert.equal((await post(client, '/', '2')).body.toString(), 'until the end');
    assert.equal(raw.connections(), 2);
  });

  it('answers 204 without waiting for a body', async () => {
    const raw = await rawServer(() => 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
    const client = new KeepAliveHttpClient('127.0.0.1', raw.port, 1);
    closers.push(() => (client.close(), raw.server.close()));
    const answer = await post(client, '/', '');
    assert.equal(answer.status, 204);
    assert.equal(answer.body.length, 0);
  });

  it('fails a request whose connection drops mid-answer, or whose answer is not HTTP, and goes on with the next', async () => {
    const raw = await rawServer(() => 'unused');
    raw.server.removeAllListeners('connection');
    let n = 0;
    raw.server.on('connection', (socket) => {
      socket.once('data', () => {
        n++;
        if (n === 1) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
        else if (n === 2) socket.write('SMTP ready\r\n\r\n');
        else socket.write('HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    const client = new KeepAliveHttpClient('127.0.0.1', raw.port, 1);
    closers.push(() => (client.close(), raw.server.close()));
    await assert.rejects(post(client, '/', '1'), /closed before the answer was complete/);
    await assert.rejects(post(client, '/', '2'), /not an HTTP\/1\.x answer/);
    assert.equal((await post(client, '/', '3')).body.toString(), 'ok');
  });

  it('fails requests to a port nobody listens on, and those still queued when it is closed', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = new KeepAliveHttpClient('127.0.0.1', port, 1);
    await assert.rejects(post(refused, '/', 'x'), /ECONNREFUSED/);
    refused.close();

    // A server that never answers: one request in flight, two queued behind it.
    const silent = net.createServer(() => undefined);
    const silentPort = await listen(silent);
    const client = new KeepAliveHttpClient('127.0.0.1', silentPort, 1);
    closers.push(() => silent.close());
    const outcomes = Promise.allSettled([post(client, '/', '1'), post(client, '/', '2'), post(client, '/', '3')]);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(client.queued, 2);
    client.close();
    const settled = await outcomes;
    assert.deepEqual(
      settled.map((s) => s.status),
      ['rejected', 'rejected', 'rejected'],
    );
    await assert.rejects(post(client, '/', '4'), /closed/);
  });
});

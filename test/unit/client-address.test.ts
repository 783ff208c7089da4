import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import express from 'express';
import { clientAddress } from '../../producer/intake-fast-path.js';

/*
 * The intake fast path logs the client the Express routes log (req.ip): for every TRUST_PROXY
 * hop count and X-Forwarded-For chain, the same address.
 */
describe('the fast path names the client as Express does', () => {
  it('agrees with req.ip for 0 to 3 trusted hops and chains of 0 to 3 entries', async () => {
    for (const hops of [0, 1, 2, 3]) {
      const app = express();
      if (hops > 0) app.set('trust proxy', hops);
      app.get('/', (req, res) => {
        res.json({ express: req.ip, fast: clientAddress(req, hops) });
      });
      const server = http.createServer(app).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      try {
        for (const chain of [
          undefined,
          '203.0.113.7',
          '203.0.113.7, 10.0.0.2',
          '198.51.100.1, 203.0.113.7, 10.0.0.2',
        ]) {
          const res = await fetch(`http://127.0.0.1:${port}/`, {
            headers: chain === undefined ? {} : { 'x-forwarded-for': chain },
          });
          const { express: expected, fast } = (await res.json()) as { express: string; fast: string };
          assert.equal(fast, expected, `hops ${hops}, X-Forwarded-For ${chain ?? '(none)'}`);
        }
      } finally {
        server.close();
      }
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bootstrap, type ConsumerService } from '../../consumer/bootstrap.js';
import { loadConfig } from '../../shared/config.js';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { testLogger } from '../helpers/logger.js';

/*
 * With HTTP_HOST unset (the default), a service's HTTP port answers over IPv4 and IPv6 alike: a
 * scraper on an IPv6-only private network (Railway's older environments) reaches /metrics, and
 * one on IPv4 does too. The other tests pin HTTP_HOST to 127.0.0.1; this one leaves it out.
 */
const base = testEnv('httpdualstack');
const { HTTP_HOST: _pinned, ...env } = base.env;
const config = loadConfig(env);

describe('HTTP_HOST unset: the HTTP port listens on IPv4 and IPv6', () => {
  let consumer: ConsumerService;

  before(async () => {
    consumer = await bootstrap(config, testLogger);
  });
  after(async () => {
    await consumer.close();
    await cleanupTestResources(base.config);
  });

  it('defaults HTTP_HOST to unset (every interface, both families)', () => {
    assert.equal(config.http.host, undefined);
  });

  for (const address of ['127.0.0.1', '[::1]']) {
    it(`answers /metrics on ${address}`, async () => {
      const res = await fetch(`http://${address}:${consumer.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /service="consumer"/);
    });
  }
});

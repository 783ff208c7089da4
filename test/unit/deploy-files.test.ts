import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { SERVICE_NAMES, loadConfig } from '../../shared/config.js';

/**
 * No Docker Compose here (the docker CLI has no compose plugin), so the compose file is checked
 * as YAML and against the config schema instead of being run; see docs/deploy.md.
 */
describe('deployment files', () => {
  type Compose = { services: Record<string, { environment?: Record<string, string>; build?: string; image?: string }> };
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as Compose;

  it('docker-compose.yml runs the three stores and the four services, each with its SERVICE', () => {
    for (const store of ['rabbitmq', 'redis', 'mongo']) assert.ok(compose.services[store]?.image, `${store} has an image`);
    for (const name of SERVICE_NAMES) {
      const service = compose.services[name];
      assert.ok(service, `compose has ${name}`);
      assert.equal(service.environment?.SERVICE, name);
    }
  });

  it("each compose service's environment is a valid configuration", () => {
    for (const name of SERVICE_NAMES) {
      const env = { NODE_ENV: 'production', ...compose.services[name]!.environment };
      assert.equal(loadConfig(env).service, name);
    }
  });

  it('railway.json starts with npm start and probes /healthz', () => {
    const railway = JSON.parse(readFileSync('railway.json', 'utf8')) as { deploy: { startCommand: string; healthcheckPath: string } };
    assert.equal(railway.deploy.startCommand, 'npm start');
    assert.equal(railway.deploy.healthcheckPath, '/healthz');
  });
});

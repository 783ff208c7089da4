import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import newman, { type NewmanRunSummary } from 'newman';
import { DEV_INTAKE_API_KEY } from '../../shared/config.js';
import { startPipeline, type Pipeline } from '../helpers/pipeline.js';

const COLLECTION = 'postman/notification-pipeline.postman_collection.json';
const ENVIRONMENT = 'postman/local.postman_environment.json';

function runCollection(envVar: Array<{ key: string; value: string }>): Promise<NewmanRunSummary> {
  return new Promise((resolve, reject) => {
    newman.run({ collection: COLLECTION, environment: ENVIRONMENT, envVar, reporters: [], timeoutRequest: 30_000 }, (err, summary) =>
      err ? reject(err) : resolve(summary),
    );
  });
}

/**
 * The Postman collection users import, run with newman against the real pipeline (token mode),
 * whose producer takes the development intake key `npm run dev` sets: the environment file's
 * `intakeApiKey` is used as shipped.
 */
describe('postman collection', () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline('postman', { INTAKE_API_KEYS: DEV_INTAKE_API_KEY });
  });
  after(async () => {
    await p.close();
  });

  it('passes every request and assertion against the running stack', async () => {
    const summary = await runCollection([
      { key: 'baseUrl', value: p.producerUrl },
      { key: 'userId', value: 'user2' },
      { key: 'otherUserId', value: 'user3' },
      { key: 'token', value: await p.token('user2') },
    ]);
    const failures = summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.message}`);
    assert.deepEqual(failures, []);
    const { assertions, requests } = summary.run.stats;
    // 65 requests and ~152 assertions when History needs no polling (Preferences and Follows included).
    assert.ok((requests.total ?? 0) >= 63, `requests run: ${requests.total}`);
    assert.ok((assertions.total ?? 0) >= 143, `assertions run: ${assertions.total}`);
    assert.equal(assertions.failed, 0);
  });
});

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { lint, loadConfig } from '@redocly/openapi-core';

/*
 * docs/openapi.yaml against Redocly's `recommended` rules (redocly.yaml), the checks code
 * generators and Postman's import rely on: valid structure, an operationId on every operation,
 * security declared on each, no broken or unused references. The problems accepted on purpose are
 * in .redocly.lint-ignore.yaml, each with its reason.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Accepted on purpose (.redocly.lint-ignore.yaml says why): reported as ignored, never as problems. */
const ACCEPTED = ['info-license #/info', 'no-unused-components #/components/responses/MethodNotAllowed'];

describe("docs/openapi.yaml under Redocly's recommended rules", () => {
  it('has no error and no warning but the accepted ones', async () => {
    const config = await loadConfig({ configPath: `${root}redocly.yaml` });
    const problems = await lint({ ref: `${root}docs/openapi.yaml`, config });
    const label = (p: (typeof problems)[number]) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}`;
    const reported = problems.filter((p) => !p.ignored).map((p) => `${p.severity} ${label(p)}: ${p.message}`);
    assert.deepEqual(reported, [], `Redocly reports:\n${reported.join('\n')}`);
    // An accepted problem that went away is removed from the ignore file too.
    assert.deepEqual(
      problems
        .filter((p) => p.ignored)
        .map(label)
        .sort(),
      ACCEPTED,
    );
  });
});

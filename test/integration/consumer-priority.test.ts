import { after, describe, it } from 'node:test';
import { cleanupTestResources } from '../helpers/cleanup.js';
import { testEnv } from '../helpers/config.js';
import { transactionalOvertakesPromotional } from '../helpers/priority-check.js';

const PREFETCH = 10;
const { config } = testEnv('consumerprio', {
  CONSUMER_PREFETCH: String(PREFETCH),
  RATE_LIMIT_RECIPIENT_PER_MINUTE: '100000',
  PERSIST_DELAY_MS: '600000',
});

describe('priority: transactional before promotional', () => {
  const check = transactionalOvertakesPromotional(config);
  // After the check's own hook (hooks run in the order they are registered): services first.
  after(() => cleanupTestResources(config));

  it('a SECURITY event queued behind 1,000 PROMO events is consumed among the first', () =>
    check({ promoBatches: 2, userId: 'prio-user', prefetch: PREFETCH, timeoutMs: 60_000 }));
});

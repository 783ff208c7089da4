import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allQueues, createTopology, retryDelaysMs } from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';

describe('topology', () => {
  it('grows retry delays exponentially from the base', () => {
    assert.deepEqual(retryDelaysMs(1000, 4), [1000, 2000, 4000, 8000]);
    assert.deepEqual(retryDelaysMs(1000, 0), []);
  });

  it('prefixes every name and puts each delay queue TTL in its name', () => {
    const t = createTopology(
      loadConfig({ AMQP_NAME_PREFIX: 'tenant.', CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2', RETRY_BASE_DELAY_MS: '500', PERSIST_DELAY_MS: '3000' }),
    );
    assert.deepEqual(t.eventsRetryQueues, ['tenant.notify.events.retry.500ms', 'tenant.notify.events.retry.1000ms']);
    assert.equal(t.persistDelayQueue, 'tenant.notify.persist.delay.3000ms');
    for (const queue of allQueues(t)) assert.ok(queue.startsWith('tenant.'), queue);
    assert.equal(new Set(allQueues(t)).size, allQueues(t).length, 'queue names are distinct');
  });
});

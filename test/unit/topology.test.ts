import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allQueues,
  categoriesOf,
  createTopology,
  eventsQueueList,
  QUORUM_DELIVERY_LIMIT,
  retryDelaysMs,
} from '../../shared/amqp/topology.js';
import { loadConfig } from '../../shared/config.js';
import { CATEGORIES } from '../../shared/priority.js';

const settings = {
  AMQP_NAME_PREFIX: 'tenant.',
  CONSUMER_RETRIES_BEFORE_DEAD_LETTER: '2',
  JOBS_RETRY_LADDER_RUNGS: '2',
  RETRY_BASE_DELAY_MS: '500',
  PERSIST_DELAY_MS: '3000',
};

describe('topology', () => {
  it('grows retry delays exponentially from the base', () => {
    assert.deepEqual(retryDelaysMs(1000, 4), [1000, 2000, 4000, 8000]);
    assert.deepEqual(retryDelaysMs(1000, 0), []);
  });

  it('classic: the names every earlier release declared, one priority queue for all categories', () => {
    const t = createTopology(loadConfig(settings));
    assert.equal(t.queueType, 'classic');
    for (const c of CATEGORIES) {
      assert.equal(t.eventsQueues[c], 'tenant.notify.events');
      assert.deepEqual(t.eventsRetryQueues[c], [
        'tenant.notify.events.retry.500ms',
        'tenant.notify.events.retry.1000ms',
      ]);
    }
    assert.deepEqual(eventsQueueList(t), ['tenant.notify.events']);
    assert.deepEqual(categoriesOf(t, 'tenant.notify.events'), CATEGORIES);
    assert.equal(t.persistDelayQueue, 'tenant.notify.persist.delay.3000ms');
    assert.equal(t.acksQueue, 'tenant.notify.acks');
    for (const queue of allQueues(t)) assert.ok(queue.startsWith('tenant.'), queue);
    assert.equal(new Set(allQueues(t)).size, allQueues(t).length, 'queue names are distinct');
  });

  it('quorum: an events queue and a retry ladder per category, and no name shared with classic', () => {
    const classic = createTopology(loadConfig(settings));
    const t = createTopology(loadConfig({ ...settings, AMQP_QUEUE_TYPE: 'quorum' }));
    assert.equal(t.queueType, 'quorum');
    assert.deepEqual(eventsQueueList(t), [
      'tenant.notify.quorum.events.transactional',
      'tenant.notify.quorum.events.social',
      'tenant.notify.quorum.events.promotional',
    ]);
    assert.deepEqual(t.eventsRetryQueues.promotional, [
      'tenant.notify.quorum.events.promotional.retry.500ms',
      'tenant.notify.quorum.events.promotional.retry.1000ms',
    ]);
    for (const c of CATEGORIES) assert.deepEqual(categoriesOf(t, t.eventsQueues[c]), [c]);
    assert.equal(t.persistDelayQueue, 'tenant.notify.quorum.persist.delay.3000ms');
    // A broker refuses to redeclare a queue with another type: the two sets must not meet.
    const shared = allQueues(t).filter((q) => allQueues(classic).includes(q));
    assert.deepEqual(shared, []);
    assert.equal(new Set(allQueues(t)).size, allQueues(t).length, 'queue names are distinct');
    assert.equal(
      allQueues(t).length,
      allQueues(classic).length + 2 + 2 * 2,
      'two more events queues, each with its own ladder',
    );
  });

  it('the quorum delivery limit is frozen at 20: existing queues were declared with it', () => {
    // RabbitMQ compares x-delivery-limit on every redeclare and the limit is not in the queue
    // names: another value stops every existing quorum deployment at start-up (406). Changing it
    // takes new names and a drain (docs/deploy.md "What counts toward the delivery limit").
    assert.equal(QUORUM_DELIVERY_LIMIT, 20);
  });
});

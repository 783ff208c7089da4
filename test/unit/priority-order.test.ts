import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PASSED_OVER, PriorityOrder } from '../../consumer/priority-order.js';

describe('the order the consumer takes delivered events in', () => {
  it('highest priority first, oldest first within one priority, at most `max` at once', () => {
    const order = new PriorityOrder<string>();
    order.push('promo-1', 1);
    order.push('like-1', 5);
    order.push('promo-2', 1);
    order.push('security-1', 9);
    order.push('like-2', 5);
    assert.equal(order.size, 5);
    assert.deepEqual(order.take(2), ['security-1', 'like-1']);
    assert.deepEqual(order.take(10), ['like-2', 'promo-1', 'promo-2']);
    assert.equal(order.size, 0);
    assert.deepEqual(order.take(10), []);
  });

  it(`a steady stream of higher priorities passes a delivered event over at most ${MAX_PASSED_OVER} batches`, () => {
    const order = new PriorityOrder<string>();
    order.push('promo', 1);
    let batches = 0;
    for (;;) {
      // Every batch, more security events arrive than a batch holds.
      for (let i = 0; i < 3; i++) order.push(`security-${batches}-${i}`, 9);
      const batch = order.take(2);
      batches++;
      if (batch.includes('promo')) {
        assert.equal(batch[0], 'promo', 'an overdue event goes first');
        break;
      }
      assert.ok(batches <= MAX_PASSED_OVER, `promo still waiting after ${batches} batches`);
    }
    assert.equal(batches, MAX_PASSED_OVER + 1);
  });

  it('overdue events go oldest first, before any higher priority', () => {
    const order = new PriorityOrder<string>();
    order.push('promo', 1);
    order.push('security-a', 9);
    assert.deepEqual(order.take(1), ['security-a']);
    order.push('like', 5); // one batch younger than promo
    for (let b = 0; b < MAX_PASSED_OVER - 1; b++) {
      order.push(`security-${b}`, 9);
      assert.deepEqual(order.take(1), [`security-${b}`]);
    }
    order.push('security-x', 9);
    assert.deepEqual(order.take(1), ['promo'], `passed over ${MAX_PASSED_OVER} times`);
    assert.deepEqual(order.take(1), ['like'], 'overdue too now, and ahead of a higher priority');
    assert.deepEqual(order.take(1), ['security-x']);
  });
});

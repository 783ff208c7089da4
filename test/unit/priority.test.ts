import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENTS_MAX_PRIORITY } from '../../shared/amqp/topology.js';
import { categoryOf, priorityOf } from '../../shared/priority.js';
import { EVENT_TYPES, PROMOTIONAL_TYPES, SOCIAL_TYPES, TRANSACTIONAL_TYPES } from '../../shared/schemas/event.js';

describe('priorities', () => {
  it('orders transactional > social > promotional', () => {
    for (const t of TRANSACTIONAL_TYPES)
      for (const s of SOCIAL_TYPES) assert.ok(priorityOf(t) > priorityOf(s), `${t} > ${s}`);
    for (const s of SOCIAL_TYPES)
      for (const p of PROMOTIONAL_TYPES) assert.ok(priorityOf(s) > priorityOf(p), `${s} > ${p}`);
  });

  it('stays within the events queue x-max-priority', () => {
    for (const type of EVENT_TYPES) {
      assert.ok(priorityOf(type) >= 0 && priorityOf(type) <= EVENTS_MAX_PRIORITY, type);
    }
  });

  it('puts every type in its category', () => {
    assert.equal(categoryOf('SECURITY'), 'transactional');
    assert.equal(categoryOf('PAYMENT'), 'transactional');
    assert.equal(categoryOf('FOLLOW'), 'social');
    assert.equal(categoryOf('PROMO'), 'promotional');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { objectIdOf } from '../../shared/event-types.js';
import { EVENT_TYPES, validateEvent } from '../../shared/schemas/event.js';

const valid = {
  LIKE: { type: 'LIKE', actorId: 'user1', targetId: 'user2', postId: 'post1' },
  COMMENT: { type: 'COMMENT', actorId: 'user1', targetId: 'user2', postId: 'post1', text: 'nice' },
  REPLY: { type: 'REPLY', actorId: 'user1', targetId: 'user2', commentId: 'c1' },
  MENTION: { type: 'MENTION', actorId: 'user1', targetId: 'user2', postId: 'post1' },
  FOLLOW: { type: 'FOLLOW', actorId: 'user1', targetId: 'user2' },
  SHARE: { type: 'SHARE', actorId: 'user1', targetId: 'user2', postId: 'post1' },
  POST: { type: 'POST', actorId: 'user1', postId: 'post1' },
  UNFOLLOW: { type: 'UNFOLLOW', actorId: 'user1', targetId: 'user2' },
  SECURITY: { type: 'SECURITY', targetId: 'user2', text: 'new sign-in from Firefox' },
  ORDER: { type: 'ORDER', targetId: 'user2', orderId: 'o-1', text: 'has shipped' },
  PAYMENT: { type: 'PAYMENT', targetId: 'user2', paymentId: 'pay-1', amount: 12.5, currency: 'eur' },
  PROMO: { type: 'PROMO', targetId: 'user2', campaignId: 'spring', text: 'Spring sale' },
} as const;

describe('the event schema', () => {
  it('accepts a minimal valid event of every type', () => {
    assert.deepEqual(Object.keys(valid).sort(), [...EVENT_TYPES].sort());
    for (const event of Object.values(valid)) {
      const result = validateEvent(event);
      assert.ok(result.ok, `${event.type}: ${JSON.stringify(result)}`);
    }
  });

  it('normalizes what it converts (currency upper-case)', () => {
    const result = validateEvent(valid.PAYMENT);
    assert.ok(result.ok);
    assert.equal(result.event.currency, 'EUR');
  });

  it('reports every problem at once, with its field', () => {
    const result = validateEvent({ type: 'LIKE', actorId: 'a b', extra: true });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems.map((p) => p.field).sort(), ['actorId', 'extra', 'postId', 'targetId']);
  });

  it('rejects unknown types, a missing type and non-objects', () => {
    for (const input of [{ type: 'POKE', targetId: 'x' }, { targetId: 'x' }, [], 'LIKE', null]) {
      const result = validateEvent(input);
      assert.ok(!result.ok, JSON.stringify(input));
    }
    const unknown = validateEvent({ type: 'POKE' });
    assert.ok(!unknown.ok);
    assert.equal(unknown.problems[0]?.field, 'type');
  });

  it('requires the type-specific fields', () => {
    const missing = (input: object) => {
      const r = validateEvent(input);
      return r.ok ? [] : r.problems.map((p) => p.field);
    };
    assert.deepEqual(missing({ type: 'REPLY', actorId: 'a', targetId: 'b' }), ['commentId']);
    assert.deepEqual(missing({ type: 'FOLLOW', targetId: 'b' }), ['actorId']);
    assert.deepEqual(missing({ type: 'SECURITY', targetId: 'b' }), ['text']);
    assert.deepEqual(missing({ type: 'ORDER', targetId: 'b' }), ['orderId']);
    assert.deepEqual(missing({ type: 'PROMO', targetId: 'b', text: 'x' }), ['campaignId']);
  });

  it('refuses a NUL character in free text, naming the rule, not the text', () => {
    const result = validateEvent({
      type: 'COMMENT',
      actorId: 'u1',
      targetId: 'u2',
      postId: 'p1',
      text: 'hi\u0000there',
    });
    assert.equal(result.ok, false);
    assert.deepEqual(!result.ok && result.problems, [
      { field: 'text', message: '"text" must not contain NUL characters' },
    ]);
  });

  it('keeps eventIds short and plain (they become AMQP ids and Redis key parts)', () => {
    assert.ok(validateEvent({ ...valid.FOLLOW, eventId: 'abc-123_x:y@z.1' }).ok);
    assert.ok(!validateEvent({ ...valid.FOLLOW, eventId: 'has space' }).ok);
    assert.ok(!validateEvent({ ...valid.FOLLOW, eventId: 'x'.repeat(129) }).ok);
  });

  it('names the object each type is about', () => {
    assert.equal(objectIdOf(valid.LIKE), 'post1');
    assert.equal(objectIdOf(valid.REPLY), 'c1');
    assert.equal(objectIdOf(valid.FOLLOW), null);
    assert.equal(objectIdOf(valid.ORDER), 'o-1');
    assert.equal(objectIdOf(valid.PROMO), 'spring');
  });
});

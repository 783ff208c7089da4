import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { factsOf } from '../../shared/event-types.js';
import type { ActivityEvent } from '../../shared/schemas/event.js';

/**
 * The one-actor message of every event type, straight from the production table
 * (shared/event-types.ts `format`, what consumer/commit.ts writes into a notification), given the
 * actor's display name the consumer looked up.
 */
const social = { actorId: 'user1', targetId: 'user2', postId: 'post1' };

describe('notification messages', () => {
  const cases: Array<[ActivityEvent, string]> = [
    [{ ...social, type: 'LIKE' }, 'Ada liked your post'],
    [{ ...social, type: 'COMMENT' }, 'Ada commented on your post'],
    [{ ...social, type: 'COMMENT', text: 'great' }, 'Ada commented on your post: "great"'],
    [{ ...social, type: 'REPLY', commentId: 'c1' }, 'Ada replied to your comment'],
    [{ ...social, type: 'MENTION' }, 'Ada mentioned you in a post'],
    [{ actorId: 'user1', targetId: 'user2', type: 'FOLLOW' }, 'Ada started following you'],
    [{ ...social, type: 'SHARE' }, 'Ada shared your post'],
    [{ targetId: 'user2', type: 'SECURITY', text: 'new sign-in' }, 'Security alert: new sign-in'],
    [{ targetId: 'user2', type: 'ORDER', orderId: 'o-7', text: 'has shipped' }, 'Your order o-7 has shipped'],
    [{ targetId: 'user2', type: 'ORDER', orderId: 'o-7' }, 'Your order o-7 was updated'],
    [
      { targetId: 'user2', type: 'PAYMENT', paymentId: 'p-1', amount: 12.5, currency: 'EUR' },
      'Payment p-1 of 12.50 EUR received',
    ],
    [{ targetId: 'user2', type: 'PROMO', campaignId: 'c', text: 'Spring sale' }, 'Spring sale'],
  ];
  for (const [event, message] of cases) {
    it(`${event.type}: "${message}"`, () => assert.equal(factsOf(event.type).format(event, 'Ada'), message));
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAggregateMessage } from '../helpers/format.js';
import type { EventType } from '../../shared/schemas/event.js';

/**
 * Tests the test oracle test/helpers/format.ts (`formatAggregateMessage`), not production code:
 * test/integration/consumer-commit.test.ts compares the messages consumer/commit.lua writes with
 * it, so a wrong oracle there would pass or fail that test for the wrong reason. The expected
 * strings here are written out by hand, independently of both.
 */

describe('aggregate messages, as a table', () => {
  const cases: Array<[EventType, string[], number, string]> = [
    ['LIKE', ['user1'], 1, 'user1 liked your post'],
    ['LIKE', ['user1', 'user2'], 2, 'user1 and user2 liked your post'],
    ['LIKE', ['user3', 'user2', 'user1'], 3, 'user3, user2 and 1 other liked your post'],
    ['LIKE', ['user9', 'user8', 'user7'], 25, 'user9, user8 and 23 others liked your post'],
    ['COMMENT', ['Ada', 'Grace'], 2, 'Ada and Grace commented on your post'],
    ['COMMENT', ['Ada', 'Grace'], 4, 'Ada, Grace and 2 others commented on your post'],
    ['SHARE', ['Ada', 'Grace', 'Linus'], 3, 'Ada, Grace and 1 other shared your post'],
  ];
  for (const [type, actors, count, expected] of cases) {
    it(`${type} × ${count}: ${expected}`, () => assert.equal(formatAggregateMessage(type, actors, count), expected));
  }
});

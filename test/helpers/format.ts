import { factsOf } from '../../shared/event-types.js';
import type { EventType } from '../../shared/schemas/event.js';

/**
 * The aggregate message as the tests expect it: the rule consumer/commit.lua applies, stated here
 * in TypeScript so that test/integration/consumer-commit.test.ts can hold the script to it. Being
 * an oracle, it has a table test of its own (test/unit/format-aggregate.test.ts).
 *
 * The message of an aggregate that absorbed more than one actor. `actors` are the display names,
 * most recent first; `count` is how many distinct actors it holds in all. Two names at most,
 * then "and N other(s)".
 */
export function formatAggregateMessage(type: EventType, actors: string[], count: number): string {
  const verb = factsOf(type).aggregateVerb ?? 'interacted with your post';
  const [first = 'Someone', second] = actors;
  if (count <= 1 || second === undefined) return `${first} ${verb}`;
  if (count === 2) return `${first} and ${second} ${verb}`;
  const others = count - 2;
  return `${first}, ${second} and ${others} ${others === 1 ? 'other' : 'others'} ${verb}`;
}

import { factsOf } from '../../shared/event-types.js';
import type { ActivityEvent, EventType } from '../../shared/schemas/event.js';

/**
 * The messages as the tests expect them: the event-type table's formatter for one actor
 * (shared/event-types.ts) and, for an aggregate, the rule consumer/commit.lua applies, stated
 * here in TypeScript so tests can hold the script to it.
 *
 * The readable message of every event type. `nameOf` returns a display name for
 * a user id (the seeded name when known, the id itself otherwise).
 */
export function formatMessage(event: ActivityEvent, nameOf: (userId: string) => string): string {
  return factsOf(event.type).format(event, event.actorId !== undefined ? nameOf(event.actorId) : 'Someone');
}

/**
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

/** The user ids whose names a message needs. */
export function namesNeeded(event: ActivityEvent): string[] {
  return event.actorId !== undefined ? [event.actorId] : [];
}

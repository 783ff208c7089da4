/**
 * Correlation ids for log lines (docs/operations.md "Following one event"). A line about many
 * notifications or events carries their count and the first few ids, so lines stay bounded.
 */
export const LOGGED_IDS = 10;

export function firstIds(ids: readonly unknown[], max = LOGGED_IDS): string[] {
  return ids.filter((id): id is string => typeof id === 'string').slice(0, max);
}

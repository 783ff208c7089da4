/**
 * A notification document as jobs stores it, for tests that put notifications in MongoDB only
 * (past the buffer's TTL): an undelivered one-actor COMMENT unless `overrides` say otherwise.
 */
export function storedNotification<O extends { _id: string; userId: string }>(overrides: O) {
  return {
    seq: 0,
    type: 'COMMENT',
    priority: 5,
    actors: ['x'],
    actorCount: 1,
    objectId: 'p',
    message: 'x commented',
    status: 'undelivered' as const,
    version: 1,
    eventIds: [] as string[],
    createdAt: new Date(),
    persistedAt: new Date(),
    ...overrides,
  };
}

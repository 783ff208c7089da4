/**
 * Every Redis key of the pipeline, named here and nowhere else. REDIS_KEY_PREFIX is added by
 * ioredis (keyPrefix) to every command's keys, including the KEYS of Lua scripts, so these
 * functions return the unprefixed names.
 */
export const keys = {
  /** The buffered notification (JSON), with BUFFER_TTL_SECONDS. */
  notification: (id: string) => `notif:${id}`,
  /** Sorted set of the user's pending (unacked) notification ids; score = replay order. */
  inbox: (userId: string) => `inbox:${userId}`,
  /** INCR counter behind the per-user `seq`. */
  seq: (userId: string) => `seq:${userId}`,
  /** Set when a notification was acked: epoch ms of the ack. Jobs read it at flush time. */
  acked: (id: string) => `acked:${id}`,
  /** Set when a user read a notification jobs has not stored yet: epoch ms. Jobs store it as read. */
  readBeforeStored: (id: string) => `readmark:${id}`,
  /** eventId already turned into a notification (SET NX, EVENT_DEDUPE_WINDOW_SECONDS). */
  eventSeen: (eventId: string) => `dedupe:event:${eventId}`,
  /** The same semantic action inside ACTION_DEDUPE_WINDOW_MS (SET NX). */
  actionSeen: (fingerprint: string) => `dedupe:action:${fingerprint}`,
  /** Producer idempotency: Idempotency-Key / body eventId → the accepted eventId. */
  idempotency: (key: string) => `idem:${key}`,
  /** rate-limiter-flexible keyPrefix values (it appends its own key). */
  rateLimitActor: 'rl:actor',
  rateLimitRecipient: 'rl:recipient',
  /** Hash of stage → epoch ms for one notification or event: the timeline API reads it. */
  timeline: (id: string) => `timeline:${id}`,
} as const;

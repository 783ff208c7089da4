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
  /** Exists while no undelivered notification of the user can be in MongoDB only (ws-server/replay.ts). */
  replayClean: (userId: string) => `replay-clean:${userId}`,
  /** Notifications jobs inserted for the user, minus what the cap removed; jobs checks the cap only above it (docs/persistence.md). */
  storedCount: (userId: string) => `stored:${userId}`,
  /** Set when a notification was acked: epoch ms of the ack. Jobs read it at flush time. */
  acked: (id: string) => `acked:${id}`,
  /** Exists from the buffer commit of a version until jobs has stored it (shared/buffer.ts). */
  unpersisted: (id: string) => `unpersisted:${id}`,
  /** Set when a user read a notification jobs has not stored yet: epoch ms. Jobs store it as read. */
  readBeforeStored: (id: string) => `readmark:${id}`,
  /** eventId already turned into a notification (SET NX, EVENT_DEDUPE_WINDOW_SECONDS). */
  eventSeen: (eventId: string) => `dedupe:event:${eventId}`,
  /** The same semantic action inside ACTION_DEDUPE_WINDOW_MS (SET NX). */
  actionSeen: (fingerprint: string) => `dedupe:action:${fingerprint}`,
  /** Producer idempotency: Idempotency-Key / body eventId → the accepted eventId. */
  idempotency: (key: string) => `idem:${key}`,
  /** Events of an actor in the current minute (consumer/commit.lua; the names rate-limiter-flexible used). */
  rateLimitActor: (actorId: string) => `rl:actor:${actorId}`,
  /** Events to a recipient in the current minute. */
  rateLimitRecipient: (userId: string) => `rl:recipient:${userId}`,
  /**
   * Prefix of the producer's per-client requests in the current minute (producer/rate-limit.ts);
   * rate-limiter-flexible appends `:<client address>`.
   */
  rateLimitHttp: () => 'rl:http',
  /**
   * Aggregation window of (recipient, type, object): hash { id, createdAt, n }, PX AGGREGATION_WINDOW_MS.
   * While the window has one actor it also holds a1/nm1/e1 (actor, name, eventId) and the three
   * keys below do not exist (consumer/commit.lua).
   */
  aggregate: (userId: string, type: string, objectId: string) => `agg:${userId}:${type}:${objectId}`,
  /** The window's distinct actors, score = arrival order (most recent = highest). Same TTL. */
  aggregateActors: (userId: string, type: string, objectId: string) => `aggactors:${userId}:${type}:${objectId}`,
  /** The window's actors' display names (hash actorId → name), for the aggregate message. Same TTL. */
  aggregateNames: (userId: string, type: string, objectId: string) => `aggnames:${userId}:${type}:${objectId}`,
  /** The eventIds folded into the window's notification (a capped list). Same TTL. */
  aggregateEvents: (userId: string, type: string, objectId: string) => `aggevents:${userId}:${type}:${objectId}`,
  /** The user's unread count (see shared/unread.ts); missing means "reconcile from MongoDB". */
  unreadCount: (userId: string) => `unread:${userId}`,
  /** INCR on every change of the unread count; never expires, so clients can detect drift. */
  unreadVersion: (userId: string) => `unread:v:${userId}`,
  /** How many reads of the user are between their MongoDB update and their count change (a rebuild waits). */
  unreadBusy: (userId: string) => `unread:busy:${userId}`,
  /** A user's display name, copied from MongoDB ('' for an unknown id); shared/user-directory.ts. */
  userName: (userId: string) => `name:${userId}`,
  /** A user's preferences (JSON), copied from MongoDB, replaced on update. */
  preferences: (userId: string) => `prefs:${userId}`,
  /** Fan-out page `page` of POST event `eventId` was published (so a redelivery does not publish it twice). */
  fanoutPagePublished: (eventId: string, page: number) => `fanout:published:${eventId}:${page}`,
  /** Every recipient of fan-out page `page` went through the per-recipient path: a copy is skipped. */
  fanoutPageDone: (eventId: string, page: number) => `fanout:done:${eventId}:${page}`,
  /**
   * Which ws-server instances hold a socket of the user: sorted set instanceId → expiry (epoch ms
   * on the Redis server's clock). Written by the instance (AUTH, a refresh round, the last close),
   * read by every wake publisher in the same call that publishes (shared/wake-channel.ts).
   */
  wsRoute: (userId: string) => `wsroute:${userId}`,
  /**
   * The Redis pub/sub channel of one ws-server instance's wakes (shared/messages.ts
   * WakeExchangeMessage). Channels are not keys, so ioredis does not prefix them: callers pass
   * REDIS_KEY_PREFIX and get the full name.
   */
  wakeChannel: (keyPrefix: string, instanceId: string) => `${keyPrefix}wake:${instanceId}`,
  /** What wakeChannel puts before the instance id (the Lua publishers append it). */
  wakeChannelPrefix: (keyPrefix: string) => `${keyPrefix}wake:`,
  /**
   * The one channel every instance heard before wakes were routed. Nothing publishes on it any
   * more; ws-servers still listen so publishers of the previous release reach them during a
   * rolling deploy (ws-server/wake.ts).
   */
  legacyWakeChannel: (keyPrefix: string) => `${keyPrefix}wake`,
  /** Hash of stage → epoch ms for one notification or event: the timeline API reads it. */
  timeline: (id: string) => `timeline:${id}`,
} as const;

/**
 * Every Redis key of the pipeline, named here and nowhere else. REDIS_KEY_PREFIX is added by
 * ioredis (keyPrefix) to every command's keys, including the KEYS of Lua scripts, so these
 * functions return the unprefixed names.
 *
 * Hash tags (Redis Cluster): a cluster stores a key in the slot of the text between its first `{`
 * and the next `}` when there is one, and a script, MULTI or multi-key command may only touch keys
 * of one slot. The rule here: **every key one script or transaction touches carries the same tag,
 * the user's `{u:<userId>}`** — the user's own keys (inbox, seq, unread count, preferences, ...),
 * the keys of the user's notifications (`notif:{u:alice}:<id>`, its acked, unpersisted, read and
 * timeline keys: every caller of an ack or a read knows the user), and the keys of the events
 * addressed to the user (eventId and action dedupe, the event's timeline: under the recipient's
 * tag). A user's keys live on one node, so a user's commit, ACK, AUTH read and after-write step
 * stay one atomic script; different users spread over the cluster.
 * Untagged keys are only ever used one at a time: the actor's rate limit (its own slot; on a
 * cluster the consumer counts it in a step of its own, consumer/rate-limits.ts), display names,
 * idempotency, fan-out pages, the HTTP limiter. Reads of many users' keys go through
 * shared/redis.ts `getMany`. REDIS_KEY_PREFIX may hold no braces on a cluster (shared/config.ts).
 *
 * The names before the tag (issue #17) were `notif:<id>`, `inbox:<userId>`...: docs/operations.md
 * "Upgrading Redis keys" says what happens to data written under them.
 */
const user = (userId: string) => `{u:${userId}}`;

export const keys = {
  /** The hash tag of a user's keys, for code that must name the slot (tests, tools). */
  userTag: user,
  /** The buffered notification (JSON), with BUFFER_TTL_SECONDS. */
  notification: (userId: string, id: string) => `notif:${user(userId)}:${id}`,
  /** Sorted set of the user's pending (unacked) notification ids; score = replay order. */
  inbox: (userId: string) => `inbox:${user(userId)}`,
  /** INCR counter behind the per-user `seq`. */
  seq: (userId: string) => `seq:${user(userId)}`,
  /** Exists while no undelivered notification of the user can be in MongoDB only (ws-server/replay.ts). */
  replayClean: (userId: string) => `replay-clean:${user(userId)}`,
  /** Notifications jobs inserted for the user, minus what the cap removed; jobs checks the cap only above it (docs/persistence.md). */
  storedCount: (userId: string) => `stored:${user(userId)}`,
  /** The stored count at which a user left over the cap (too little read to remove) is worth a cap query again (jobs/cap.ts). */
  capRecheckAt: (userId: string) => `caprecheck:${user(userId)}`,
  /** Set when a notification was acked: epoch ms of the ack. Jobs read it at flush time. */
  acked: (userId: string, id: string) => `acked:${user(userId)}:${id}`,
  /**
   * From the buffer commit of a version (consumer/commit.lua) until jobs has stored it; its value is
   * '<commit ms>:<version>' (shared/unpersisted-mark.ts).
   */
  unpersisted: (userId: string, id: string) => `unpersisted:${user(userId)}:${id}`,
  /** Set when a user read a notification jobs has not stored yet: epoch ms. Jobs store it as read. */
  readBeforeStored: (userId: string, id: string) => `readmark:${user(userId)}:${id}`,
  /** eventId already turned into a notification for this recipient (SET NX, EVENT_DEDUPE_WINDOW_SECONDS). */
  eventSeen: (userId: string, eventId: string) => `dedupe:event:${user(userId)}:${eventId}`,
  /** The same semantic action inside ACTION_DEDUPE_WINDOW_MS (SET NX); the fingerprint names the recipient too. */
  actionSeen: (userId: string, fingerprint: string) => `dedupe:action:${user(userId)}:${fingerprint}`,
  /**
   * Producer idempotency (producer/idempotency.lua): an eventId a client chose (Idempotency-Key,
   * body eventId) → the fingerprint of the event first accepted under it, EVENT_DEDUPE_WINDOW_SECONDS.
   * Untagged: the one key its script touches.
   */
  idempotency: (key: string) => `idem:${key}`,
  /** Held by the jobs instance running the persist sweep, for one PERSIST_SWEEP_INTERVAL_MS (jobs/persist-sweep.ts). Untagged. */
  persistSweepLock: () => 'persist-sweep-lock',
  /** Written by a consumer holding its events to see Redis take writes again, 1 s (consumer/redis-gate.ts). Untagged. */
  redisGateProbe: () => 'redis-gate-probe',
  /**
   * Events of an actor in the current minute (consumer/commit.lua; the names rate-limiter-flexible
   * used). Untagged: an actor reaches many recipients, so on a cluster it is counted apart.
   */
  rateLimitActor: (actorId: string) => `rl:actor:${actorId}`,
  /** Events to a recipient in the current minute. */
  rateLimitRecipient: (userId: string) => `rl:recipient:${user(userId)}`,
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
  aggregate: (userId: string, type: string, objectId: string) => `agg:${user(userId)}:${type}:${objectId}`,
  /** The window's distinct actors, score = arrival order (most recent = highest). Same TTL. */
  aggregateActors: (userId: string, type: string, objectId: string) => `aggactors:${user(userId)}:${type}:${objectId}`,
  /** The window's actors' display names (hash actorId → name), for the aggregate message. Same TTL. */
  aggregateNames: (userId: string, type: string, objectId: string) => `aggnames:${user(userId)}:${type}:${objectId}`,
  /** The eventIds folded into the window's notification (a capped list). Same TTL. */
  aggregateEvents: (userId: string, type: string, objectId: string) => `aggevents:${user(userId)}:${type}:${objectId}`,
  /** The user's unread count (see shared/unread.ts); missing means "reconcile from MongoDB". */
  unreadCount: (userId: string) => `unread:${user(userId)}`,
  /** INCR on every change of the unread count; never expires, so clients can detect drift. */
  unreadVersion: (userId: string) => `unread:v:${user(userId)}`,
  /** How many reads of the user are between their MongoDB update and their count change (a rebuild waits). */
  unreadBusy: (userId: string) => `unread:busy:${user(userId)}`,
  /** A user's display name, copied from MongoDB ('' for an unknown id); shared/user-directory.ts. Untagged: read many at a time, alone. */
  userName: (userId: string) => `name:${userId}`,
  /** A user's preferences (JSON), copied from MongoDB, replaced on update (AUTH reads it in replay-state.lua). */
  preferences: (userId: string) => `prefs:${user(userId)}`,
  /**
   * Fan-out page `page` of POST event `eventId` was published (so a redelivery does not publish it
   * twice); holds `after:<cursor>`, the page's cursor, where the page before it ends (consumer/fanout.ts).
   */
  fanoutPagePublished: (eventId: string, page: number) => `fanout:published:${eventId}:${page}`,
  /** Every recipient of fan-out page `page` went through the per-recipient path: a copy is skipped. */
  fanoutPageDone: (eventId: string, page: number) => `fanout:done:${eventId}:${page}`,
  /**
   * Which ws-server instances hold a socket of the user: sorted set instanceId → expiry (epoch ms
   * on the Redis server's clock). Written by the instance (AUTH, a refresh round, the last close),
   * read by every wake publisher in the same call that publishes (shared/wake-channel.ts). Under
   * the user's tag: the commit and the AUTH read touch it beside the user's other keys.
   */
  wsRoute: (userId: string) => `wsroute:${user(userId)}`,
  /**
   * The Redis pub/sub channel of one ws-server instance's wakes (shared/messages.ts
   * WakeExchangeMessage). Channels are not keys, so ioredis does not prefix them: callers pass
   * REDIS_KEY_PREFIX and get the full name. On a cluster PUBLISH reaches every node
   * (shared/redis.ts openSubscriber).
   */
  wakeChannel: (keyPrefix: string, instanceId: string) => `${keyPrefix}wake:${instanceId}`,
  /**
   * The pub/sub channel on which a preferences write names its user (shared/preferences.ts), so
   * consumers drop their in-process copy (consumer/preference-cache.ts). A channel, not a key: the
   * caller passes REDIS_KEY_PREFIX.
   */
  preferencesChanged: (keyPrefix: string) => `${keyPrefix}prefs-changed`,
  /** What wakeChannel puts before the instance id (the Lua publishers append it). */
  wakeChannelPrefix: (keyPrefix: string) => `${keyPrefix}wake:`,
  /**
   * The one channel every instance heard before wakes were routed. Nothing publishes on it any
   * more; ws-servers still listen so publishers of the previous release reach them during a
   * rolling deploy (ws-server/wake.ts).
   */
  legacyWakeChannel: (keyPrefix: string) => `${keyPrefix}wake`,
  /**
   * Hash of stage → epoch ms for one notification or event of the user: the timeline API reads it.
   * An event's stages are kept under its recipient (a fanned-out POST's recipients have their own
   * per-recipient eventIds anyway).
   */
  timeline: (userId: string, id: string) => `timeline:${user(userId)}:${id}`,
} as const;

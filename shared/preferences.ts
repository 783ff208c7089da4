import Joi from 'joi';
import type { BackgroundLoads } from './background.js';
import { DependencyUnavailableError } from './errors.js';
import { keys } from './keys.js';
import type { Models } from './models/index.js';
import { getMany, type Redis } from './redis.js';
import { EVENT_TYPES, TRANSACTIONAL_TYPES } from './schemas/event.js';
import { NO_VALUE_MESSAGES } from './schemas/no-value-messages.js';

/**
 * A user's notification preferences: their shape, validation, storage (MongoDB, copied to
 * Redis, replaced on update) and the do-not-disturb clock. The producer's API writes them,
 * the consumer applies them (consumer/preferences.ts).
 */
export interface Preferences {
  /** Types never notified. Transactional types cannot be muted. */
  mutedTypes: string[];
  promotionalOptOut: boolean;
  /** Local times of day in `timeZone`; end before start spans midnight. */
  doNotDisturb: { start: string; end: string; timeZone: string } | null;
}

const DUPLICATE_KEY = 11000;

export const DEFAULT_PREFERENCES: Preferences = { mutedTypes: [], promotionalOptOut: false, doNotDisturb: null };

/** The types a user may mute: everything but transactional ones. */
export const MUTABLE_TYPES = EVENT_TYPES.filter((t) => !(TRANSACTIONAL_TYPES as readonly string[]).includes(t));
const TIME_OF_DAY = /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/;
const timeOfDay = () => Joi.string().pattern(TIME_OF_DAY, 'HH:MM or HH:MM:SS');

/** An IANA time zone name this runtime knows (the preferences' `timeZone`). */
export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const preferencesSchema = Joi.object<Preferences>({
  mutedTypes: Joi.array()
    .items(Joi.string().valid(...MUTABLE_TYPES))
    .unique()
    .max(MUTABLE_TYPES.length)
    .default([]),
  promotionalOptOut: Joi.boolean().default(false),
  doNotDisturb: Joi.object({
    start: timeOfDay().required(),
    // An end equal to the start (22:00 and 22:00:00 too) would be no window at all (dndEndsAt),
    // silently: refused, so a user who meant "all day" learns it is not one.
    end: timeOfDay()
      .required()
      .custom((value: string, helpers) => {
        const start: unknown = (helpers.state.ancestors as Array<{ start?: unknown }>)[0]?.start;
        const same = typeof start === 'string' && TIME_OF_DAY.test(start) && secondsOf(start) === secondsOf(value);
        return same ? helpers.error('dnd.empty') : value;
      }, 'differs from start'),
    timeZone: Joi.string()
      .max(64)
      .required()
      .custom((value: string, helpers) => (isTimeZone(value) ? value : helpers.error('any.invalid')), 'IANA time zone'),
  })
    .allow(null)
    .default(null),
})
  .prefs({ abortEarly: false, convert: false })
  // The 400 answer's messages say which pattern a field fails, never what it held (docs/security.md).
  .messages({
    ...NO_VALUE_MESSAGES,
    'dnd.empty': '{{#label}} must differ from "doNotDisturb.start": the same start and end make no window',
  });

function secondsOf(time: string): number {
  const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
  return h * 3600 + m * 60 + s;
}

/** One formatter per time zone: building one costs more than the rest of a decision. */
const formatters = new Map<string, Intl.DateTimeFormat>();
const FORMATTERS_MAX = 1000;

/** Undefined for a zone this runtime does not know (a value a write that bypassed the API stored). */
function formatterOf(timeZone: string): Intl.DateTimeFormat | undefined {
  let formatter = formatters.get(timeZone);
  if (formatter) return formatter;
  try {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour12: false,
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  } catch {
    return undefined;
  }
  if (formatters.size >= FORMATTERS_MAX) formatters.clear();
  formatters.set(timeZone, formatter);
  return formatter;
}

function localSecondsOfDay(atMs: number, formatter: Intl.DateTimeFormat): number {
  const parts = formatter.formatToParts(new Date(atMs));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return (part('hour') % 24) * 3600 + part('minute') * 60 + part('second');
}

/**
 * When the do-not-disturb window active at `atMs` ends (epoch ms), or null if none is active.
 * The end is the next instant whose local time of day is the window's end, so a daylight-saving
 * change inside the window does not move it by an hour. An end that falls in a spring-forward
 * gap (02:30 on a night that skips from 02:00 to 03:00) ends the window at the wall-clock
 * reckoning, a little late rather than early. A time zone this runtime does not know counts as no
 * window: throwing here would fail every event decided with it, other users' included.
 */
export function dndEndsAt(prefs: Preferences, atMs: number): number | null {
  const dnd = prefs.doNotDisturb;
  if (!dnd) return null;
  const start = secondsOf(dnd.start);
  const end = secondsOf(dnd.end);
  if (start === end) return null;
  const formatter = formatterOf(dnd.timeZone);
  if (!formatter) return null;
  const now = localSecondsOfDay(atMs, formatter);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  const remaining = (end - now + 86_400) % 86_400;
  const wallClock = atMs - (atMs % 1000) + remaining * 1000;
  // The offset the zone gained or lost by then (an hour across a DST change), given back.
  const shifted = wallClock + offsetChangeMs(atMs, wallClock, formatter);
  return shifted !== wallClock && localSecondsOfDay(shifted, formatter) === end ? shifted : wallClock;
}

/** How much the zone's UTC offset at `fromMs` exceeds the one at `toMs` (0 without a DST change between). */
function offsetChangeMs(fromMs: number, toMs: number, formatter: Intl.DateTimeFormat): number {
  const offsetAt = (ms: number) => {
    const utcSecondsOfDay = Math.floor((((ms / 1000) % 86_400) + 86_400) % 86_400);
    return ((((localSecondsOfDay(ms, formatter) - utcSecondsOfDay) % 86_400) + 86_400 + 43_200) % 86_400) - 43_200;
  };
  return (offsetAt(fromMs) - offsetAt(toMs)) * 1000;
}

/**
 * Until when do-not-disturb holds back a notification of `type` (epoch ms), or null to push it
 * now. Transactional notifications are never held. The consumer asks this for live delivery,
 * the ws-server for the AUTH replay, so both follow the same rule.
 */
export function doNotDisturbHoldsUntil(prefs: Preferences, type: string, atMs: number): number | null {
  if ((TRANSACTIONAL_TYPES as readonly string[]).includes(type)) return null;
  return dndEndsAt(prefs, atMs);
}

export interface PreferenceStore {
  /**
   * For the live path (consumer decisions, AUTH replay): the Redis copy; on a miss MongoDB is
   * read in the background (it refills the copy) and waited on for at most the fallback wait,
   * then the defaults stand in. Never slower than one Redis read plus that wait.
   */
  read(userId: string): Promise<Preferences>;
  /** `read` for many users in one MGET (the consumer's batch); misses as in `read`. */
  readMany(userIds: string[]): Promise<Map<string, Preferences>>;
  /**
   * `readMany`, also naming the users whose answer is the defaults standing in for a MongoDB
   * read that did not finish in time: a cache must not keep those.
   */
  readManyWithStandIns(userIds: string[]): Promise<{ prefs: Map<string, Preferences>; standIns: Set<string> }>;
  /** For the API: the Redis copy, else MongoDB with its deadline (errors propagate: 503). */
  readOrLoad(userId: string): Promise<Preferences>;
  write(userId: string, prefs: Preferences): Promise<Preferences>;
}

export interface PreferenceStoreOptions {
  /** How long the Redis copy lives; writes replace it at once, a missing one is reloaded. */
  cacheTtlSeconds: number;
  /** The longest the live path waits for MongoDB behind a miss (MONGO_FALLBACK_WAIT_MS). */
  fallbackWaitMs: number;
  /**
   * keys.preferencesChanged(REDIS_KEY_PREFIX): a write PUBLISHes its userId there once the new
   * copy is stored, so consumers drop what they hold in memory (consumer/preference-cache.ts).
   */
  changesChannel: string;
  loads: BackgroundLoads;
  onFallback?: () => void;
}

/**
 * MongoDB is the truth; Redis holds each user's copy (defaults included, so a user who never set
 * any costs one GET too). A write replaces the copy after the MongoDB update; a background load
 * only fills a missing copy (SET NX), so a load that read MongoDB before a concurrent write can
 * never overwrite the newer copy that write stored.
 */
export function preferenceStore(models: Models, redis: Redis, options: PreferenceStoreOptions): PreferenceStore {
  const key = keys.preferences;
  const loadFromMongo = async (userId: string) => {
    const doc = await models.Preference.findById(userId).lean();
    const prefs: Preferences = doc
      ? { mutedTypes: doc.mutedTypes, promotionalOptOut: doc.promotionalOptOut, doNotDisturb: doc.doNotDisturb ?? null }
      : DEFAULT_PREFERENCES;
    await redis.set(key(userId), JSON.stringify(prefs), 'EX', options.cacheTtlSeconds, 'NX');
    return prefs;
  };
  const load = (userId: string) => options.loads.run(`prefs:${userId}`, () => loadFromMongo(userId));
  const readManyWithStandIns = async (userIds: string[]) => {
    const unique = [...new Set(userIds)];
    const found = new Map<string, Preferences>();
    const standIns = new Set<string>();
    if (unique.length === 0) return { prefs: found, standIns };
    const cached = await getMany(redis, unique.map(key));
    const missing = unique.filter((userId, i) => {
      const copy = cached[i];
      if (copy === null || copy === undefined) return true;
      found.set(userId, JSON.parse(copy) as Preferences);
      return false;
    });
    const loaded = await Promise.all(
      missing.map((userId) =>
        options.loads.attempt(`prefs:${userId}`, () => loadFromMongo(userId), options.fallbackWaitMs),
      ),
    );
    missing.forEach((userId, i) => {
      const answer = loaded[i]!;
      if (!answer.done) {
        options.onFallback?.();
        standIns.add(userId);
      }
      found.set(userId, answer.done ? answer.value : DEFAULT_PREFERENCES);
    });
    return { prefs: found, standIns };
  };
  return {
    async read(userId) {
      const cached = await redis.get(key(userId));
      if (cached !== null) return JSON.parse(cached) as Preferences;
      const loaded = await options.loads.attempt(
        `prefs:${userId}`,
        () => loadFromMongo(userId),
        options.fallbackWaitMs,
      );
      if (loaded.done) return loaded.value;
      options.onFallback?.();
      return DEFAULT_PREFERENCES;
    },
    async readMany(userIds) {
      return (await readManyWithStandIns(userIds)).prefs;
    },
    readManyWithStandIns,
    async readOrLoad(userId) {
      const cached = await redis.get(key(userId));
      if (cached !== null) return JSON.parse(cached) as Preferences;
      const loading = load(userId);
      if (!loading) throw new DependencyUnavailableError('preferences: too many MongoDB reads waiting, retry');
      return loading;
    },
    async write(userId, prefs) {
      // Dropped first: if storing the new copy below fails (the API then answers an error), no
      // old copy outlives the update; a load racing the update is overwritten by the SET.
      await redis.del(key(userId));
      const update = () =>
        models.Preference.updateOne({ _id: userId }, { $set: { ...prefs, updatedAt: new Date() } }, { upsert: true });
      await update().catch((err: unknown) => {
        // Two concurrent first writes of one user both try to insert and one loses on _id (MongoDB
        // retries that itself, FerretDB does not): the document exists now, so the update applies.
        if ((err as { code?: unknown }).code === DUPLICATE_KEY) return update();
        throw err;
      });
      try {
        await redis.set(key(userId), JSON.stringify(prefs), 'EX', options.cacheTtlSeconds);
      } finally {
        // After the new copy is stored: a consumer that drops its copy on this message and reads
        // again gets the new one. Announced even when that SET failed (MongoDB holds the change
        // already; the missing copy is reloaded from it). Pub/sub is at most once: a consumer whose
        // subscription was down drops everything when it is back, and one that missed this message
        // while connected (this PUBLISH failed too) keeps its copy at most its cache's TTL.
        await redis.publish(options.changesChannel, userId);
      }
      return prefs;
    },
  };
}

import Joi from 'joi';
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { Models } from './models/index.js';
import { EVENT_TYPES, TRANSACTIONAL_TYPES } from './schemas/event.js';

/**
 * A user's notification preferences: their shape, validation, storage (MongoDB, cached in
 * Redis, invalidated on update) and the do-not-disturb clock. The producer's API writes them,
 * the consumer applies them (consumer/preferences.ts).
 */
export interface Preferences {
  /** Types never notified. Transactional types cannot be muted. */
  mutedTypes: string[];
  promotionalOptOut: boolean;
  /** Local times of day in `timeZone`; end before start spans midnight. */
  doNotDisturb: { start: string; end: string; timeZone: string } | null;
}

export const DEFAULT_PREFERENCES: Preferences = { mutedTypes: [], promotionalOptOut: false, doNotDisturb: null };

const MUTABLE_TYPES = EVENT_TYPES.filter((t) => !(TRANSACTIONAL_TYPES as readonly string[]).includes(t));
const timeOfDay = () => Joi.string().pattern(/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/, 'HH:MM or HH:MM:SS');

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const preferencesSchema = Joi.object<Preferences>({
  mutedTypes: Joi.array().items(Joi.string().valid(...MUTABLE_TYPES)).unique().max(MUTABLE_TYPES.length).default([]),
  promotionalOptOut: Joi.boolean().default(false),
  doNotDisturb: Joi.object({
    start: timeOfDay().required(),
    end: timeOfDay().required(),
    timeZone: Joi.string()
      .max(64)
      .required()
      .custom((value: string, helpers) => (isTimeZone(value) ? value : helpers.error('any.invalid')), 'IANA time zone'),
  })
    .allow(null)
    .default(null),
}).prefs({ abortEarly: false, convert: false });

function secondsOf(time: string): number {
  const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
  return h * 3600 + m * 60 + s;
}

function localSecondsOfDay(atMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(atMs));
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return (part('hour') % 24) * 3600 + part('minute') * 60 + part('second');
}

/**
 * When the do-not-disturb window active at `atMs` ends (epoch ms), or null if none is active.
 * Wall-clock arithmetic on the local time of day: a DST shift inside the window moves its end by
 * the shift, which is acceptable for "hold social notifications overnight".
 */
export function dndEndsAt(prefs: Preferences, atMs: number): number | null {
  const dnd = prefs.doNotDisturb;
  if (!dnd) return null;
  const start = secondsOf(dnd.start);
  const end = secondsOf(dnd.end);
  if (start === end) return null;
  const now = localSecondsOfDay(atMs, dnd.timeZone);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  const remaining = (end - now + 86_400) % 86_400;
  return atMs - (atMs % 1000) + remaining * 1000;
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
  read(userId: string): Promise<Preferences>;
  write(userId: string, prefs: Preferences): Promise<Preferences>;
}

/** MongoDB is the truth; Redis caches each user's document (defaults included) for `cacheTtlSeconds`. */
export function preferenceStore(models: Models, redis: Redis, cacheTtlSeconds: number): PreferenceStore {
  return {
    async read(userId) {
      const cached = await redis.get(keys.preferences(userId));
      if (cached !== null) return JSON.parse(cached) as Preferences;
      const doc = await models.Preference.findById(userId).lean();
      const prefs: Preferences = doc
        ? { mutedTypes: doc.mutedTypes, promotionalOptOut: doc.promotionalOptOut, doNotDisturb: doc.doNotDisturb ?? null }
        : DEFAULT_PREFERENCES;
      await redis.set(keys.preferences(userId), JSON.stringify(prefs), 'EX', cacheTtlSeconds);
      return prefs;
    },
    async write(userId, prefs) {
      await models.Preference.updateOne({ _id: userId }, { $set: { ...prefs, updatedAt: new Date() } }, { upsert: true });
      // Deleted after the write: a reader racing it may re-cache the old copy only until its TTL.
      await redis.del(keys.preferences(userId));
      return prefs;
    },
  };
}

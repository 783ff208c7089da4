import Joi from 'joi';
import { decodeAckBody } from '../shared/ack-batch.js';
import { PermanentError } from '../shared/errors.js';
import type { AckBatchMessage } from '../shared/messages.js';
import type { Notification } from '../shared/notification.js';
import { decodePersistBody } from '../shared/persist-batch.js';

/**
 * What jobs accepts from its queues. A body that fails here can never be written, so it is a
 * PermanentError (dead-lettered with the details), never a retry.
 *
 * A hand-written structural check with Joi's rules and messages, not Joi: a persist message
 * carries a whole consumer flush, and Joi was a measured hot spot. On batches of 200 (2-core dev
 * machine, 2026-12-06): Joi per notification 12–14 µs, one Joi array schema compiled once 8–13 µs
 * per notification, this check 1.1–1.5 µs (JSON.parse of the body itself: about 2 µs).
 * Unknown fields are allowed, as before.
 */

type Check = (value: unknown, label: string) => string | null;

const string =
  (min: number, max = Infinity): Check =>
  (v, label) => {
    if (typeof v !== 'string') return `"${label}" must be a string`;
    if (v.length === 0 && min > 0) return `"${label}" is not allowed to be empty`;
    if (v.length < min) return `"${label}" length must be at least ${min} characters long`;
    if (v.length > max) return `"${label}" length must be less than or equal to ${max} characters long`;
    // Refused by PostgreSQL under FerretDB for the whole insert: dead-lettered alone, not retried
    // with its batch forever (events are checked for it at intake; a message from elsewhere is not).
    if (v.includes('\u0000')) return `"${label}" must not contain NUL characters`;
    return null;
  };

const integer =
  (min: number, max = Infinity): Check =>
  (v, label) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return `"${label}" must be a number`;
    if (!Number.isSafeInteger(v)) return `"${label}" must be an integer`;
    if (v < min) return `"${label}" must be greater than or equal to ${min}`;
    if (v > max) return `"${label}" must be less than or equal to ${max}`;
    return null;
  };

const nonEmptyString = string(1);

const strings: Check = (v, label) => {
  if (!Array.isArray(v)) return `"${label}" must be an array`;
  for (let i = 0; i < v.length; i++) {
    const problem = nonEmptyString(v[i], `${label}[${i}]`);
    if (problem) return problem;
  }
  return null;
};

const nullable =
  (check: Check): Check =>
  (v, label) =>
    v === null ? null : check(v, label);

/** What `Date#toISOString` writes, which is what every service sends; Joi judges anything else. */
const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;
const joiIsoDate = Joi.string().isoDate();

const isoDate: Check = (v, label) => {
  if (typeof v !== 'string') return `"${label}" must be a string`;
  const valid = CANONICAL_ISO.test(v)
    ? !Number.isNaN(Date.parse(v))
    : joiIsoDate.validate(v, { convert: false }).error === undefined;
  return valid ? null : `"${label}" must be in ISO 8601 date format`;
};

const id = string(1, 200);

const NOTIFICATION_FIELDS: ReadonlyArray<readonly [keyof Notification, Check]> = [
  ['id', id],
  ['userId', id],
  ['seq', integer(0)],
  ['type', string(1, 64)],
  ['priority', integer(0, 255)],
  ['actors', strings],
  ['actorCount', integer(0)],
  ['objectId', nullable(nonEmptyString)],
  ['message', nonEmptyString],
  ['createdAt', isoDate],
  ['version', integer(1)],
  ['eventIds', strings],
];

function problemsOf(value: unknown, fields: ReadonlyArray<readonly [string, Check]>): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['"value" must be of type object'];
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, check] of fields) {
    const v = record[field];
    const problem = v === undefined ? `"${field}" is required` : check(v, field);
    if (problem !== null) problems.push(problem);
  }
  return problems;
}

/** Every reason `value` is not a notification jobs can store; empty when it is one. */
export function notificationProblems(value: unknown): string[] {
  return problemsOf(value, NOTIFICATION_FIELDS);
}

export interface InvalidItem {
  /** Position in the message's `notifications`. */
  index: number;
  item: unknown;
  problems: string[];
}

export interface PersistJob {
  notifications: Notification[];
  /** Items of a batch message that can never be stored; the rest of the message is stored. */
  invalid: InvalidItem[];
}

/** Bounded, because it goes into a header (shared/amqp/envelope.ts cuts it at 1,000 characters anyway). */
export function describeInvalid(invalid: InvalidItem[]): string {
  const shown = invalid.slice(0, 5).map((i) => `notifications[${i.index}]: ${i.problems.join('; ')}`);
  if (invalid.length > shown.length) shown.push(`and ${invalid.length - shown.length} more`);
  return `persist batch: ${shown.join(' | ')}`;
}

/**
 * A persist message: a batch whose invalid items are reported apart, or a bare notification (the
 * body before batches). Throws a PermanentError when nothing in it can be stored: not JSON, not a
 * batch, an invalid bare notification, or a batch with no valid item.
 */
export function parsePersistJob(content: Buffer): PersistJob {
  const { items, batch } = decodePersistBody(content);
  const notifications: Notification[] = [];
  const invalid: InvalidItem[] = [];
  items.forEach((item, index) => {
    const problems = notificationProblems(item);
    if (problems.length === 0) notifications.push(item as Notification);
    else invalid.push({ index, item, problems });
  });
  if (!batch && invalid.length > 0) throw new PermanentError(`persist job: ${invalid[0]!.problems.join('; ')}`);
  if (notifications.length === 0 && invalid.length > 0) throw new PermanentError(describeInvalid(invalid));
  return { notifications, invalid };
}

const ACK_FIELDS: ReadonlyArray<readonly [string, Check]> = [
  ['notificationId', id],
  ['userId', id],
  ['ackedAt', isoDate],
];

const ACK_BATCH_FIELDS: ReadonlyArray<readonly [string, Check]> = [
  ['userId', id],
  ['ackedAt', isoDate],
  [
    'notificationIds',
    (v, label) => {
      if (!Array.isArray(v)) return `"${label}" must be an array`;
      for (let i = 0; i < v.length; i++) {
        const problem = id(v[i], `${label}[${i}]`);
        if (problem) return problem;
      }
      return null;
    },
  ],
];

/**
 * An ack message as a batch: an `AckBatchMessage`, or a single `AckMessage` (the body before
 * batches) as a batch of one. Invalid anywhere: the whole message is dead-lettered (an ACK frame
 * is one user's, checked by the ws-server; a bad id in it is a bug, not data to save).
 */
export function parseAckMessage(content: Buffer): AckBatchMessage {
  const { raw, batch } = decodeAckBody(content);
  const problems = problemsOf(raw, batch ? ACK_BATCH_FIELDS : ACK_FIELDS);
  if (batch && raw.versions !== undefined) {
    const problem = versionsProblem(raw.versions, (raw.notificationIds as unknown[]).length);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new PermanentError(`ack message: ${problems.join('; ')}`);
  const { userId, ackedAt } = raw as { userId: string; ackedAt: string };
  if (!batch) return { userId, ackedAt, notificationIds: [raw.notificationId as string] };
  const notificationIds = raw.notificationIds as string[];
  return raw.versions === undefined
    ? { userId, ackedAt, notificationIds }
    : { userId, ackedAt, notificationIds, versions: raw.versions as number[] };
}

/** An ack batch's optional versions: one per id, each a version (ws-server/ack.ts publishAcks). */
function versionsProblem(v: unknown, ids: number): string | null {
  if (!Array.isArray(v)) return '"versions" must be an array';
  if (v.length !== ids) return `"versions" must have one entry per notification id (${ids})`;
  const version = integer(1);
  for (let i = 0; i < v.length; i++) {
    const problem = version(v[i], `versions[${i}]`);
    if (problem) return problem;
  }
  return null;
}

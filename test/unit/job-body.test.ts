import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import Joi from 'joi';
import { notificationProblems, parseAckMessage, parsePersistJob } from '../../jobs/job-body.js';
import { encodeAckBatch } from '../../shared/ack-batch.js';
import { PermanentError } from '../../shared/errors.js';
import { encodeNotification, type Notification } from '../../shared/notification.js';
import { encodePersistBatch } from '../../shared/persist-batch.js';

/** The Joi schema jobs validated every persist job with before the hand-written check. */
const id = () => Joi.string().min(1).max(200);
const joiNotification = Joi.object({
  id: id().required(),
  userId: id().required(),
  seq: Joi.number().integer().min(0).required(),
  type: Joi.string().min(1).max(64).required(),
  priority: Joi.number().integer().min(0).max(255).required(),
  actors: Joi.array().items(Joi.string()).required(),
  actorCount: Joi.number().integer().min(0).required(),
  objectId: Joi.string().allow(null).required(),
  message: Joi.string().min(1).required(),
  createdAt: Joi.string().isoDate().required(),
  version: Joi.number().integer().min(1).required(),
  eventIds: Joi.array().items(Joi.string()).required(),
}).unknown(true);
const joiAccepts = (value: unknown) =>
  joiNotification.validate(value, { abortEarly: false, convert: false }).error === undefined;

const valid: Notification = {
  id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  userId: 'user1',
  seq: 7,
  type: 'LIKE',
  priority: 5,
  actors: ['a1', 'a2'],
  actorCount: 2,
  objectId: 'post1',
  message: 'a1 and a2 liked your post',
  createdAt: '2026-12-06T04:00:00.000Z',
  version: 1,
  eventIds: ['e1'],
};

/** Values a field of a persist job could be given by a buggy or foreign producer. */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 300 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(
    '',
    'x',
    'x'.repeat(65),
    'x'.repeat(201),
    '2026-12-06',
    '2026-12-06T04:00:00+01:00',
    '2026-13-01T00:00:00Z',
    'yesterday',
  ),
  fc.string(),
  fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

describe('jobs body validation', () => {
  it('accepts and rejects exactly what the Joi schema it replaces did', () => {
    assert.deepEqual(notificationProblems(valid), []);
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...(Object.keys(valid) as Array<keyof Notification>), 'extra'), anyValue, {
          maxKeys: 4,
        }),
        (changes) => {
          const candidate: Record<string, unknown> = { ...valid, ...changes };
          for (const [k, v] of Object.entries(changes)) if (v === undefined) delete candidate[k];
          assert.equal(notificationProblems(candidate).length === 0, joiAccepts(candidate), JSON.stringify(candidate));
        },
      ),
      { numRuns: 3000 },
    );
    for (const other of [null, [], 'a notification', 42])
      assert.equal(notificationProblems(other).length > 0, !joiAccepts(other));
  });

  it('refuses a NUL character, which PostgreSQL under FerretDB refuses for the whole insert', () => {
    assert.deepEqual(notificationProblems({ ...valid, message: 'a\u0000b' }), [
      '"message" must not contain NUL characters',
    ]);
    assert.equal(notificationProblems({ ...valid, userId: 'u\u0000' }).length, 1);
  });

  it('keeps the valid items of a batch and reports the invalid ones by index', () => {
    const body = encodePersistBatch([
      encodeNotification(valid),
      JSON.stringify({ ...valid, seq: -1 }),
      encodeNotification({ ...valid, id: 'n2' }),
    ]);
    const job = parsePersistJob(body);
    assert.deepEqual(
      job.notifications.map((n) => n.id),
      [valid.id, 'n2'],
    );
    assert.deepEqual(
      job.invalid.map((i) => [i.index, i.problems]),
      [[1, ['"seq" must be greater than or equal to 0']]],
    );
    assert.deepEqual(
      parsePersistJob(Buffer.from(encodeNotification(valid))),
      { notifications: [valid], invalid: [] },
      'a bare notification',
    );
    assert.throws(() => parsePersistJob(Buffer.from('{"id":1}')), PermanentError);
    assert.throws(
      () => parsePersistJob(encodePersistBatch(['{}'])),
      PermanentError,
      'nothing storable: dead-lettered whole',
    );
    assert.throws(() => parsePersistJob(Buffer.from('{"notifications":{}}')), PermanentError);
  });

  it('reads a batch ack message and the single one before it as batches', () => {
    const at = '2026-12-06T04:00:00.000Z';
    assert.deepEqual(parseAckMessage(encodeAckBatch('user1', at, ['a', 'b'])), {
      userId: 'user1',
      ackedAt: at,
      notificationIds: ['a', 'b'],
    });
    assert.deepEqual(
      parseAckMessage(Buffer.from(JSON.stringify({ notificationId: 'a', userId: 'user1', ackedAt: at }))),
      {
        userId: 'user1',
        ackedAt: at,
        notificationIds: ['a'],
      },
    );
    assert.throws(() => parseAckMessage(encodeAckBatch('user1', at, ['a', ''])), /notificationIds\[1\]/);
    assert.throws(() => parseAckMessage(Buffer.from('{"notificationId":"a"}')), /"userId" is required/);
  });

  it('reads the versions of a batch ack message, and dead-letters versions that do not line up', () => {
    const at = '2026-12-06T04:00:00.000Z';
    assert.deepEqual(parseAckMessage(encodeAckBatch('user1', at, ['a', 'b'], [2, 1])), {
      userId: 'user1',
      ackedAt: at,
      notificationIds: ['a', 'b'],
      versions: [2, 1],
    });
    const batch = (versions: unknown) =>
      Buffer.from(JSON.stringify({ userId: 'user1', ackedAt: at, notificationIds: ['a', 'b'], versions }));
    assert.throws(() => parseAckMessage(batch([1])), /"versions" must have one entry per notification id \(2\)/);
    assert.throws(() => parseAckMessage(batch([1, 0])), /"versions\[1\]" must be greater than or equal to 1/);
    assert.throws(() => parseAckMessage(batch([1, null])), /"versions\[1\]" must be a number/);
    assert.throws(() => parseAckMessage(batch('1,2')), /"versions" must be an array/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_NOTIFICATION_VERSION } from '../../shared/protocol/frames.js';
import { ERROR_CODES, ProtocolError, parseClientFrame } from '../../ws-server/protocol.js';

const limits = { maxAckBatch: 5 };
const parse = (frame: unknown) => parseClientFrame(JSON.stringify(frame), limits);

/** The ProtocolError a frame is refused with. */
function refusal(frame: unknown): ProtocolError {
  try {
    parse(frame);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `a ProtocolError, got ${String(err)}`);
    return err;
  }
  assert.fail(`accepted: ${JSON.stringify(frame)}`);
}

describe('ws-server protocol: the versions of an ACK', () => {
  it('reads versions parallel to the ids, null where the client does not know', () => {
    assert.deepEqual(parse({ type: 'ACK', notificationIds: ['a', 'b', 'c'], versions: [2, null, 1] }), {
      type: 'ACK',
      notificationIds: ['a', 'b', 'c'],
      versions: [2, null, 1],
    });
  });

  it('reads the version of a single id', () => {
    assert.deepEqual(parse({ type: 'ACK', notificationId: 'a', version: 3 }), {
      type: 'ACK',
      notificationIds: ['a'],
      versions: [3],
    });
  });

  it('keeps an ACK without versions as before: ids alone', () => {
    assert.deepEqual(parse({ type: 'ACK', notificationIds: ['a', 'b'] }), { type: 'ACK', notificationIds: ['a', 'b'] });
    assert.deepEqual(parse({ type: 'ACK', notificationId: 'a' }), { type: 'ACK', notificationIds: ['a'] });
  });

  it('accepts the highest version JSON carries exactly, and no higher', () => {
    assert.deepEqual(parse({ type: 'ACK', notificationId: 'a', version: MAX_NOTIFICATION_VERSION }), {
      type: 'ACK',
      notificationIds: ['a'],
      versions: [MAX_NOTIFICATION_VERSION],
    });
    assert.equal(
      refusal({ type: 'ACK', notificationId: 'a', version: MAX_NOTIFICATION_VERSION + 2 }).code,
      'BAD_FRAME',
    );
  });

  for (const [what, frame, message] of [
    [
      'versions that do not line up with the ids',
      { type: 'ACK', notificationIds: ['a', 'b'], versions: [1] },
      /"versions" must have one entry per notification id \(2\)/,
    ],
    [
      'more versions than ids',
      { type: 'ACK', notificationIds: ['a'], versions: [1, 2] },
      /one entry per notification id/,
    ],
    [
      'a version of 0',
      { type: 'ACK', notificationId: 'a', version: 0 },
      /"version" must be greater than or equal to 1/,
    ],
    [
      'a negative version in a list',
      { type: 'ACK', notificationIds: ['a'], versions: [-1] },
      /"versions\[0\]" must be greater than or equal to 1/,
    ],
    [
      'a fractional version',
      { type: 'ACK', notificationIds: ['a'], versions: [1.5] },
      /"versions\[0\]" must be an integer/,
    ],
    ['a version as a string', { type: 'ACK', notificationId: 'a', version: '2' }, /"version" must be a number/],
    [
      'versions that are not a list',
      { type: 'ACK', notificationIds: ['a'], versions: 2 },
      /"versions" must be an array/,
    ],
    ['a null single version', { type: 'ACK', notificationId: 'a', version: null }, /"version" must be a number/],
    [
      '`version` with a list of ids',
      { type: 'ACK', notificationIds: ['a'], version: 1 },
      /"version" missing required peer "notificationId"/,
    ],
    [
      '`versions` with a single id',
      { type: 'ACK', notificationId: 'a', versions: [1] },
      /"versions" missing required peer "notificationIds"/,
    ],
    [
      'more versions than WS_MAX_ACK_BATCH',
      { type: 'ACK', notificationIds: ['a'], versions: [1, 1, 1, 1, 1, 1] },
      /"versions" must contain less than or equal to 5 items/,
    ],
  ] as const) {
    it(`refuses ${what} with BAD_FRAME, naming the rule`, () => {
      const err = refusal(frame);
      assert.equal(err.code, ERROR_CODES.badFrame);
      assert.match(err.message, message);
    });
  }
});

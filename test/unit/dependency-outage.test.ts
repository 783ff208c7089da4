import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import { mongo } from 'mongoose';
import { isDependencyOutage } from '../../shared/dependency-outage.js';
import { DependencyUnavailableError, PermanentError, TransientError } from '../../shared/errors.js';

/** A Redis reply error as ioredis builds it from the server's answer. */
const reply = (text: string): Error => new (ReplyError as new (message: string) => Error)(text);

/** What ioredis rejects a command with once it stopped retrying it while disconnected (typed without Error's fields). */
const gaveUp = (): Error => new MaxRetriesPerRequestError(2) as unknown as Error;

/** A socket error as node reports it. */
const socketError = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });

describe('isDependencyOutage: an outage waits, a failing message is dead-lettered', () => {
  it('counts the unreachable Redis, RabbitMQ and MongoDB as outages', () => {
    const outages: Array<[string, Error]> = [
      ['our typed error', new DependencyUnavailableError('redis: unreachable')],
      ['a command given up while disconnected', gaveUp()],
      ['a closed connection', new Error('Connection is closed.')],
      ['no offline queue', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
      ['a command timeout', new Error('Command timed out')],
      ['a pipelined command whose connection dropped', new Error('Command aborted due to connection close')],
      ['a cluster client closing', new Error('Cluster is disconnecting')],
      ['a cluster without a reachable node', new Error('None of startup nodes is available')],
      ['a refused connection', socketError('ECONNREFUSED')],
      ['a connect timeout', socketError('ETIMEDOUT')],
      ['a failover: the old master is a replica now', reply("READONLY You can't write against a read only replica.")],
      ['a cluster mid-failover', reply('CLUSTERDOWN The cluster is down')],
      ['a server loading its data', reply('LOADING Redis is loading the dataset in memory')],
      ['min-replicas-to-write unmet', reply('NOREPLICAS Not enough good replicas to write.')],
      ['an unconfirmed publish', new Error('timeout')],
      ['a publish on a closed channel', new Error('Channel closed')],
      ['a nacked publish', new Error('message nacked')],
      ['MongoDB unreachable', new mongo.MongoNetworkError('connection 3 to 127.0.0.1:27017 closed')],
      ['a wrapped outage', new TransientError('redis: commit failed', { cause: gaveUp() })],
    ];
    for (const [what, err] of outages) assert.equal(isDependencyOutage(err), true, what);
  });

  it("counts a message's own failure, or an unknown one, as no outage", () => {
    const own: Array<[string, unknown]> = [
      ['a script error', reply('ERR value is not an integer or out of range script: f79324, on @user_script:1.')],
      ['a key of the wrong type', reply('WRONGTYPE Operation against a key holding the wrong kind of value')],
      ['poison', new PermanentError('invalid_event: targetId: required')],
      ['a transient failure of unknown cause', new TransientError('commit script: unknown outcome')],
      ['an unknown error', new Error('something broke')],
      ['a MongoDB validation error', new mongo.MongoServerError({ message: 'Document failed validation', code: 121 })],
      ['a thrown string', 'Connection is closed.'],
    ];
    for (const [what, err] of own) assert.equal(isDependencyOutage(err), false, what);
  });

  it('ends on an error that is its own cause', () => {
    const looped = new Error('looped');
    (looped as { cause?: unknown }).cause = looped;
    assert.equal(isDependencyOutage(looped), false);
  });
});

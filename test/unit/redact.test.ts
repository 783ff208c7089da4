import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeUrl, stripCredentials } from '../../shared/redact.js';

describe('redact', () => {
  it('describes a URL by scheme, host and port only', () => {
    assert.equal(describeUrl('amqps://user:s3cret@rabbit.example.com:5671/vhost'), 'amqps://rabbit.example.com:5671');
    assert.equal(
      describeUrl('mongodb+srv://u:p@cluster0.abc.mongodb.net/db?retryWrites=true'),
      'mongodb+srv://cluster0.abc.mongodb.net',
    );
    assert.equal(describeUrl('not a url'), '<unparseable url>');
    // A replica set's seed list is no WHATWG URL: its hosts, never its credentials.
    assert.equal(describeUrl('mongodb://u:s3cret@h1:27017,h2:27017/db?replicaSet=rs'), 'mongodb://h1:27017,h2:27017');
  });

  it('strips credentials from URLs embedded in error text', () => {
    const text = 'connect failed for redis://default:hunter2@cache.internal:6379 and amqp://guest:guest@h:5672';
    const stripped = stripCredentials(text);
    assert.ok(!stripped.includes('hunter2'));
    assert.ok(!stripped.includes('guest:guest'));
    assert.ok(stripped.includes('redis://***@cache.internal:6379'));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionOrder } from '../../shared/amqp/connection.js';

describe('the order a process tries the RabbitMQ nodes in', () => {
  const urls = ['amqp://a', 'amqp://b', 'amqp://c'];

  it('is the configured list rotated, so every node follows the one before it', () => {
    assert.deepEqual(
      connectionOrder(urls, () => 0),
      ['amqp://a', 'amqp://b', 'amqp://c'],
    );
    assert.deepEqual(
      connectionOrder(urls, () => 0.4),
      ['amqp://b', 'amqp://c', 'amqp://a'],
    );
    assert.deepEqual(
      connectionOrder(urls, () => 0.99),
      ['amqp://c', 'amqp://a', 'amqp://b'],
    );
    assert.deepEqual(
      connectionOrder(['amqp://only'], () => 0.7),
      ['amqp://only'],
    );
  });

  it('starts on every node about as often: instances spread over a cluster', () => {
    const first = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const head = connectionOrder(urls)[0]!;
      first.set(head, (first.get(head) ?? 0) + 1);
    }
    for (const url of urls) assert.ok((first.get(url) ?? 0) > 800, `${url}: ${first.get(url)}`);
  });
});

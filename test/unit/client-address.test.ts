import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientKey } from '../../producer/client-address.js';

describe('the rate-limit key of a client address', () => {
  it('is an IPv4 address as it is, also when Node shows it IPv4-mapped', () => {
    assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
    assert.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7');
  });

  it('is the /64 of an IPv6 address, however the address is written', () => {
    const key = '2001:db8:1:2::/64';
    for (const ip of ['2001:db8:1:2::1', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2:0:0:0:9', '2001:db8:1:2::1%eth0']) {
      assert.equal(clientKey(ip), key, ip);
    }
    assert.equal(clientKey('2001:db8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('2001:db8::'), '2001:db8:0:0::/64');
    assert.equal(clientKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });

  it('is one shared key when Express has no address', () => {
    assert.equal(clientKey(undefined), 'unknown');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedClient, hasForwardingHeaders } from './forwarded.ts';

test('forwarding headers are noticed in every spelling', () => {
  assert.equal(hasForwardingHeaders({}), false);
  for (const h of [{ forwarded: 'for=1.2.3.4' }, { 'x-forwarded-for': '1.2.3.4' }, { 'x-real-ip': '1.2.3.4' }])
    assert.equal(hasForwardingHeaders(h), true);
  // What other proxies and CDNs write: the loopback peer is a proxy, not the caller.
  for (const k of ['via', 'x-forwarded-host', 'true-client-ip', 'cf-connecting-ip', 'x-client-ip'])
    assert.equal(hasForwardingHeaders({ [k]: '1.2.3.4' }), true, k);
});

test('the client is the right-most hop that is not a trusted proxy', () => {
  const trusted = ['127.0.0.1', '10.0.0.2'];
  assert.equal(
    forwardedClient({ 'x-forwarded-for': '127.0.0.1, 203.0.113.9' }, trusted),
    '203.0.113.9',
    'a client cannot prepend loopback',
  );
  assert.equal(forwardedClient({ 'x-forwarded-for': '203.0.113.9, 10.0.0.2' }, trusted), '203.0.113.9');
  assert.equal(forwardedClient({ forwarded: 'for="[2001:db8::1]:443";proto=https' }, trusted), '2001:db8::1');
  assert.equal(forwardedClient({ forwarded: 'for=198.51.100.7:1234, for=10.0.0.2' }, trusted), '198.51.100.7');
  assert.equal(forwardedClient({ 'x-real-ip': '::ffff:127.0.0.1' }, ['10.0.0.2']), '127.0.0.1');
  assert.equal(forwardedClient({ forwarded: 'proto=https' }, trusted), undefined, 'unreadable: nobody');
  assert.equal(forwardedClient({ 'x-forwarded-for': '127.0.0.1' }, trusted), '127.0.0.1', 'a client on the proxy host');
  assert.equal(forwardedClient({ 'x-forwarded-for': ', 127.0.0.1' }, trusted), undefined, 'an empty hop: nobody');
});

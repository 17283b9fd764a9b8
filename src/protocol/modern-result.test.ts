import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modernResult } from './modern-result.ts';

const WHO = { name: 'gatehouse', version: '0.1.0' };
const SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

test('a 2025-era read gets resultType, ttlMs 0, cacheScope private and who answers in _meta', () => {
  assert.deepEqual(modernResult('resources/read', { contents: [] }, WHO), {
    resultType: 'complete',
    contents: [],
    _meta: { [SERVER_INFO]: WHO },
    ttlMs: 0,
    cacheScope: 'private',
  });
});

test("a server's valid ttlMs is kept, its public scope is not (the answer depends on the caller)", () => {
  const r = modernResult(
    'resources/read',
    { resultType: 'complete', contents: [], ttlMs: 5000, cacheScope: 'public' },
    WHO,
  );
  assert.equal(r.ttlMs, 5000);
  assert.equal(r.cacheScope, 'private');
  for (const bad of [-1, 1.5, '10', null, Number.POSITIVE_INFINITY])
    assert.equal(modernResult('resources/read', { contents: [], ttlMs: bad }, WHO).ttlMs, 0, String(bad));
});

test('not cacheable, or not complete: resultType and serverInfo only', () => {
  assert.deepEqual(modernResult('tools/call', { content: [] }, WHO), {
    resultType: 'complete',
    content: [],
    _meta: { [SERVER_INFO]: WHO },
  });
  assert.deepEqual(modernResult('prompts/get', { messages: [] }, WHO), {
    resultType: 'complete',
    messages: [],
    _meta: { [SERVER_INFO]: WHO },
  });
  const asking = { resultType: 'input_required', inputRequests: {}, requestState: 's' };
  assert.deepEqual(modernResult('resources/read', asking, WHO), { ...asking, _meta: { [SERVER_INFO]: WHO } });
});

test("every result names who answers on this endpoint, in place of an upstream's own; its other _meta is kept", () => {
  const upstream = {
    content: [],
    _meta: { [SERVER_INFO]: { name: 'behind', version: '9' }, 'com.example/trace': 'x' },
  };
  assert.deepEqual(modernResult('tools/call', upstream, WHO)._meta, {
    [SERVER_INFO]: WHO,
    'com.example/trace': 'x',
  });
  // A `_meta` that is no object is not the caller's to read as one: replaced.
  assert.deepEqual(modernResult('tools/call', { content: [], _meta: [1] }, WHO)._meta, { [SERVER_INFO]: WHO });
});

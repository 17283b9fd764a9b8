import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modernResult } from './modern-result.ts';

test('a 2025-era read gets resultType, ttlMs 0 and cacheScope private', () => {
  assert.deepEqual(modernResult('resources/read', { contents: [] }), {
    resultType: 'complete',
    contents: [],
    ttlMs: 0,
    cacheScope: 'private',
  });
});

test("a server's valid ttlMs is kept, its public scope is not (the answer depends on the caller)", () => {
  const r = modernResult('resources/read', { resultType: 'complete', contents: [], ttlMs: 5000, cacheScope: 'public' });
  assert.equal(r.ttlMs, 5000);
  assert.equal(r.cacheScope, 'private');
  for (const bad of [-1, 1.5, '10', null, Number.POSITIVE_INFINITY])
    assert.equal(modernResult('resources/read', { contents: [], ttlMs: bad }).ttlMs, 0, String(bad));
});

test('not cacheable, or not complete: only resultType is stamped', () => {
  assert.deepEqual(modernResult('tools/call', { content: [] }), { resultType: 'complete', content: [] });
  assert.deepEqual(modernResult('prompts/get', { messages: [] }), { resultType: 'complete', messages: [] });
  const asking = { resultType: 'input_required', inputRequests: {} };
  assert.equal(modernResult('resources/read', asking), asking);
});

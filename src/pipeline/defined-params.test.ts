import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definedParams } from './defined-params.ts';

test('only the fields a method defines are kept', () => {
  assert.deepEqual(
    definedParams('tools/call', { name: 'a', arguments: { x: 1 }, foo: 'bar', uri: 'file:///etc/passwd', task: {} }),
    { name: 'a', arguments: { x: 1 }, task: {} },
  );
  assert.deepEqual(definedParams('resources/read', { uri: 'u', name: 'n' }), { uri: 'u' });
  assert.deepEqual(definedParams('no/such', { a: 1 }), {});
});

test('`_meta` is bounded: size, prototype keys', () => {
  assert.throws(
    () => definedParams('tools/call', { name: 'a', _meta: { blob: 'x'.repeat(70_000) } }),
    /larger than 64 KiB/,
  );
  assert.throws(
    () => definedParams('tools/call', { name: 'a', _meta: JSON.parse('{"__proto__": 1}') }),
    /`_meta.__proto__` the key `__proto__` is not allowed/,
  );
});

test("a run label shaped like a session or trace id is refused: it would put the call in another caller's run", () => {
  const label = (run: string) => () => definedParams('tools/call', { name: 'a', _meta: { 'io.gatehouse/run': run } });
  assert.throws(label('6b84c0ffee0123456789abcdef012345'), /has the form of a session or trace id/);
  assert.throws(label('stdio-3f2a'), /has the form of a session or trace id/);
  assert.doesNotThrow(label('nightly-triage-2026-12-06'));
});

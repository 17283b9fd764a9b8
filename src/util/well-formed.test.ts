import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson } from './canonical-json.ts';
import { loneSurrogateAt, mayHoldLoneSurrogate, pathText, wellFormed } from './well-formed.ts';

test('the first lone surrogate is found in strings and keys, at any depth, and named by its path', () => {
  assert.equal(loneSurrogateAt({ a: 'ok', b: ['\ud83d\ude00'] }), undefined, 'a pair is text');
  assert.deepEqual(loneSurrogateAt({ a: 'x', b: [1, 'y\ud800'] }), ['b', 1]);
  assert.deepEqual(loneSurrogateAt({ a: { 'k\udc00': 1 } }), ['a', 'k\udc00']);
  assert.deepEqual(loneSurrogateAt('\udfff'), []);
  assert.deepEqual(loneSurrogateAt([{ a: 'first\ud800' }, { b: 'second\ud800' }]), [0, 'a'], 'document order');
  let deep: unknown = 'bottom\ud800';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.equal(loneSurrogateAt(deep)?.length, 200_000, 'no recursion: hostile nesting cannot overflow the stack');
  assert.equal(pathText(['arguments', 'list', 1]), 'arguments.list[1]');
  assert.equal(pathText(['arguments', 'k\udc00', 'odd key']), 'arguments["k\\udc00"]["odd key"]');
  assert.ok(pathText(['k\udc00']).isWellFormed());
});

test('a well-formed copy replaces each lone surrogate by U+FFFD; a value without one is returned as it is', () => {
  const clean = { a: ['x'], b: { c: 1 } };
  assert.equal(wellFormed(clean), clean);
  const hostile = JSON.parse(
    '{"name":"t","description":"lone \\ud800 here","inputSchema":{"properties":{"k\\udc00":{"type":"string"},"__proto__":{"x":"\\ud83d"}}},"n":[1,null,true,"\\ud83d\\ude00"]}',
  );
  const mended = wellFormed(hostile);
  assert.notEqual(mended, hostile);
  assert.equal(mended.description, 'lone \ufffd here');
  assert.deepEqual(
    Object.keys(mended.inputSchema.properties),
    ['k\ufffd', '__proto__'],
    'keys in order; __proto__ stays a key',
  );
  assert.equal(Object.getPrototypeOf(mended.inputSchema.properties), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(mended.inputSchema.properties, '__proto__')?.value, { x: '\ufffd' });
  assert.deepEqual(mended.n, [1, null, true, '\ud83d\ude00']);
  assert.equal(hostile.description, 'lone \ud800 here', 'the original is left as it was');
  assert.throws(() => canonicalJson(hostile), /surrogate/i);
  assert.match(canonicalJson(mended), /"lone \ufffd here"/);
  let deep: unknown = 'bottom\ud800';
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  let x = wellFormed(deep) as { a: unknown } | string;
  while (typeof x !== 'string') x = x.a as { a: unknown } | string;
  assert.equal(x, 'bottom\ufffd');
});

test('the one-pass look says "maybe" for every value the walk finds one in, and "no" for clean data', () => {
  const hostile = [
    '\ud800',
    { a: 'x\udfff' },
    { 'k\udbff': 1 },
    [[['deep', { b: ['\udc00y'] }]]],
    { text: 'a pair 😀 then a lone \ud83d' },
  ];
  for (const v of hostile) {
    assert.ok(loneSurrogateAt(v), 'the walk finds it');
    assert.equal(mayHoldLoneSurrogate(v), true, JSON.stringify(v));
  }
  const clean = [
    { a: 'plain', n: 1, pair: '😀', list: [null, true, 'é'] },
    [],
    'text',
    { text: 'ordinary \\ backslash' },
  ];
  for (const v of clean) assert.equal(mayHoldLoneSurrogate(v), false, JSON.stringify(v));
  // A text that merely spells the escape is a false "maybe" (then walked): never a missed one.
  assert.equal(mayHoldLoneSurrogate({ doc: 'write \\ud800 to send half a pair' }), true);
  assert.equal(loneSurrogateAt({ doc: 'write \\ud800 to send half a pair' }), undefined);
  // Not JSON data: the walk decides.
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(mayHoldLoneSurrogate(cyclic), true);
  assert.equal(mayHoldLoneSurrogate({ big: 1n }), true);
});

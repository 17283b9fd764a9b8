import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SchemaValidators, checkBounds } from './arguments.ts';
import { withLoopDelay } from '../../test/support/loop-delay.ts';

const HOSTILE = { type: 'object', properties: { q: { type: 'string', pattern: '^(\\w+\\s?)*$' } } };

test('schema patterns from upstreams run on the linear engine: a ReDoS argument is refused without blocking', async () => {
  const v = new SchemaValidators();
  const { value, maxDelayMs } = await withLoopDelay(() => v.check('pin-redos', HOSTILE, { q: `${'a'.repeat(64)}!` }));
  assert.equal(value?.path, 'q');
  assert.match(value!.message, /must match pattern/);
  assert.equal(v.check('pin-redos', HOSTILE, { q: 'hello world' }), undefined);
  assert.ok(maxDelayMs < 1000, `event loop blocked ${maxDelayMs} ms`);
});

test('patternProperties go through the same engine', async () => {
  const v = new SchemaValidators();
  const schema = { type: 'object', patternProperties: { '^(a+)+$': { type: 'number' } } };
  const { value, maxDelayMs } = await withLoopDelay(() => v.check('pin-pp', schema, { [`${'a'.repeat(64)}!`]: 'x' }));
  assert.equal(value, undefined, 'the key does not match, so its value is not constrained');
  assert.equal(v.check('pin-pp', schema, { aaa: 'x' })?.message, 'must be number');
  assert.ok(maxDelayMs < 1000);
});

test('a value too long to check against its pattern is refused, never waved through', () => {
  const v = new SchemaValidators();
  const schema = { type: 'object', properties: { s: { type: 'string', pattern: '^(a|b)*a(a|b){200}$' } } };
  const p = v.check('pin-budget', schema, { s: 'ab'.repeat(50_000) });
  assert.match(p?.message ?? '', /too long to check against the pattern/);
});

test('a pattern RE2 cannot run (lookaround, backreference) makes the schema unusable: calls refused', () => {
  const v = new SchemaValidators();
  const p = v.check(
    'pin-look',
    { type: 'object', properties: { s: { type: 'string', pattern: '^(?!admin).*$' } } },
    { s: 'x' },
  );
  assert.equal(p?.path, '(schema)');
  assert.match(p!.message, /cannot be used/);
});

test('global bounds still apply first', () => {
  assert.match(checkBounds({ __proto__: null, constructor: 1 })?.message ?? '', /not allowed/);
  assert.equal(checkBounds({ a: [1, 2, { b: 'c' }] }), undefined);
});

test('each pattern keeps its own compiled matcher within one validator (Ajv caches them by their text)', () => {
  const v = new SchemaValidators();
  const a = { type: 'object', properties: { s: { type: 'string', pattern: '^a$' } } };
  const b = { type: 'object', properties: { s: { type: 'string', pattern: '^b$' } } };
  assert.equal(v.check('pin-a', a, { s: 'a' }), undefined);
  assert.match(v.check('pin-b', b, { s: 'a' })?.message ?? '', /must match pattern/);
  assert.equal(v.check('pin-b', b, { s: 'b' }), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attachment } from './attach.ts';

test('an attached value is read back from the object it was attached to, and only from it', () => {
  const a = attachment<string>('note');
  const o = { x: 1 };
  assert.equal(a.get(o), undefined);
  assert.equal(a.set(o, 'first'), true);
  assert.equal(a.get(o), 'first');
  assert.equal(a.set(o, 'second'), true, 'replaced');
  assert.equal(a.get(o), 'second');
  assert.equal(a.get({ x: 1 }), undefined, 'another object with the same content has none');
  assert.equal(attachment<string>('note').get(o), undefined, 'another attachment of the same name is another key');
});

test('an attached value is invisible to JSON, keys, spreads, copies and deep equality', () => {
  const a = attachment<string>('body');
  const o = { kind: 'call.intent', seq: 1 };
  a.set(o, 'secret-ish text');
  assert.equal(JSON.stringify(o), '{"kind":"call.intent","seq":1}');
  assert.deepEqual(Object.keys(o), ['kind', 'seq']);
  assert.deepEqual(Reflect.ownKeys(o).length, 3, 'it is there, as a symbol');
  const copy = { ...o };
  assert.equal(a.get(copy), undefined, 'a spread copy does not carry it');
  assert.equal(a.get(structuredClone(o)), undefined);
  assert.deepStrictEqual(o, { kind: 'call.intent', seq: 1 });
});

test('an object that takes no new properties gets nothing attached, and says so', () => {
  const a = attachment<number>('n');
  for (const o of [Object.freeze({ x: 1 }), Object.seal({ x: 1 }), Object.preventExtensions({ x: 1 })]) {
    assert.equal(a.set(o, 1), false);
    assert.equal(a.get(o), undefined);
  }
  const sealedLater = { x: 1 };
  a.set(sealedLater, 1);
  Object.seal(sealedLater);
  assert.equal(a.set(sealedLater, 2), true, 'an existing attachment is still writable');
  assert.equal(a.get(sealedLater), 2);
  Object.freeze(sealedLater);
  assert.equal(a.set(sealedLater, 3), false, 'frozen: no longer');
  assert.equal(a.get(sealedLater), 2);
});

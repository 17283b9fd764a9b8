import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closestKey, editDistance, suggest } from './suggest.ts';

test('editDistance counts insertions, deletions and substitutions', () => {
  assert.deepEqual(
    [
      editDistance('', ''),
      editDistance('abc', 'abc'),
      editDistance('comand', 'command'),
      editDistance('kitten', 'sitting'),
      editDistance('', 'ab'),
    ],
    [0, 0, 1, 3, 2],
  );
});

test('suggest: the first closest name within two edits, ignoring case; nothing when all are further', () => {
  assert.equal(suggest('Alow', ['deny', 'allow']), 'allow');
  assert.equal(suggest('readd', ['read', 'reads']), 'read');
  assert.equal(suggest('xyz', ['allow', 'deny']), undefined);
  assert.equal(suggest('abc', ['abcdef']), undefined);
  assert.equal(suggest('ab', ['abcd'], 2), 'abcd');
});

test('closestKey: near in spelling, or the same word with another ending', () => {
  assert.equal(closestKey('comand', ['command', 'args']), 'command');
  assert.equal(closestKey('maxBody', ['maxBodySize', 'listen']), 'maxBodySize');
  assert.equal(closestKey('zzz', ['command', 'args']), undefined);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { formatPath, keyNode, nearest, nodeAt, position, sentence, syntaxOffset } from './yaml-positions.ts';

const lc = new LineCounter();
const doc = parseDocument('a:\n  b:\n    - x\n  "odd key": 1\n', { lineCounter: lc });
const at = (n: { range?: [number, number, number] | null } | undefined) => position(lc, n?.range?.[0] ?? 0);

test('formatPath writes paths as a reader would', () => {
  assert.equal(formatPath(['a', 'b', 0, 'odd key']), 'a.b[0]["odd key"]');
  assert.equal(formatPath([]), '');
});

test('nodes, their nearest existing ancestor and key nodes, with 1-based lines and columns', () => {
  assert.deepEqual(at(nodeAt(doc, ['a', 'b', 0])), { line: 3, column: 7 });
  assert.equal(nodeAt(doc, ['a', 'missing']), undefined);
  assert.deepEqual(at(nearest(doc, ['a', 'b', 0, 'deeper'])), { line: 3, column: 7 });
  assert.deepEqual(at(keyNode(doc, ['a'], 'odd key')), { line: 4, column: 3 });
  assert.equal(keyNode(doc, ['a'], 'nope'), undefined);
});

test('sentence: the first line, without position, lowercase, no final period', () => {
  assert.equal(
    sentence('Nested mappings are not allowed at line 3, column 4:\n\n  x'),
    'nested mappings are not allowed',
  );
  assert.equal(sentence('Bad thing.'), 'bad thing');
});

test('syntaxOffset moves an offset within leading spaces to the text, and leaves any other alone', () => {
  const text = 'a: 1\n   b: 2\n\nc';
  assert.equal(syntaxOffset(text, 5), 8, 'start of an indented line: its first character');
  assert.equal(syntaxOffset(text, 9), 9, 'within the text: unchanged');
  assert.equal(syntaxOffset(text, 0), 0, 'an unindented line: unchanged');
  assert.equal(syntaxOffset(text, 13), 13, 'an empty line: unchanged');
  assert.equal(syntaxOffset('x\n   ', 2), 2, 'spaces to the end: unchanged');
});

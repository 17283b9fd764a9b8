import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { formatPath, keyNode, nearest, nodeAt, position, sentence } from './yaml-positions.ts';

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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { formatPath, keyNode, nearest, nodeAt, position, sentence, syntaxError } from './yaml-positions.ts';

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

test('syntaxError points at a mis-indented line where its text starts, and at a line indented deeper than the key above it', () => {
  const at = (text: string, code: string, offset: number) =>
    syntaxError(text, { code, message: 'm', pos: [offset, offset + 1] });
  const text = 'a: 1\n   b: 2\n\nc';
  assert.equal(at(text, 'BAD_INDENT', 5).offset, 8, 'start of an indented line: its first character');
  assert.equal(at(text, 'BAD_INDENT', 9).offset, 9, 'within the text: unchanged');
  assert.equal(at(text, 'BAD_INDENT', 0).offset, 0, 'an unindented line: unchanged');
  assert.equal(at(text, 'BAD_INDENT', 13).offset, 13, 'an empty line: unchanged');
  assert.equal(at('x\n   ', 'BAD_INDENT', 2).offset, 2, 'spaces to the end: unchanged');
  // `b: 1` then `   c: 2`: the parser complains at `1`; the line at fault is the next.
  assert.deepEqual(at('a:\n  b: 1\n   c: 2\n', 'BLOCK_AS_IMPLICIT_KEY', 8), {
    offset: 13,
    message:
      'this line is indented further than `b` above it, so it reads as part of that value: line it up with the keys beside it',
  });
  assert.equal(at('a:\n  b: 1\n', 'BLOCK_AS_IMPLICIT_KEY', 8).message, 'm', 'no deeper line: as the parser says');
  assert.equal(at('---\n', 'MULTIPLE_DOCS', 0).message, 'only one YAML document is allowed (found a second `---`)');
});

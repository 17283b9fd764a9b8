import { test } from 'node:test';
import assert from 'node:assert/strict';
import { textOf } from './current-content.ts';

test('textOf: the text blocks of a READ tool answer, joined; null for a tool error; undefined for anything else', () => {
  assert.equal(
    textOf({
      content: [
        { type: 'text', text: 'a' },
        { type: 'image', data: 'x' },
        { type: 'text', text: 'b' },
      ],
    }),
    'ab',
  );
  assert.equal(textOf({ content: [] }), '');
  assert.equal(textOf({ isError: true, content: [{ type: 'text', text: 'ENOENT' }] }), null);
  assert.equal(textOf(undefined), undefined);
  assert.equal(textOf({ content: 'not blocks' }), undefined);
  assert.equal(textOf({ content: [{ type: 'text', text: 7 }] }), '');
});

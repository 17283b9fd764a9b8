import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csv, markdown, render, table } from './format.ts';

test('csv: RFC 4180 quoting, CRLF, and cells a spreadsheet would run as formulas defused', () => {
  const out = csv(
    ['tool', 'reason'],
    [
      ['=HYPERLINK("http://evil")', 'a, "b"\nc'],
      ['@SUM(A1)', ['x', 'y']],
      ['-2+3', null],
    ],
  );
  assert.equal(out, 'tool,reason\r\n"\'=HYPERLINK(""http://evil"")","a, ""b""\nc"\r\n\'@SUM(A1),x y\r\n\'-2+3,\r\n');
});

test('markdown: pipes escaped; control characters made visible', () => {
  assert.equal(markdown(['a'], [['x|y\u001b[31m']]), '| a |\n|---|\n| x\\|y\\u001b[31m |\n');
});

test('table: aligned columns, headers upper-cased, bidi and zero-width characters shown as escapes', () => {
  assert.equal(
    table(
      ['name', 'class'],
      [
        ['abc', 'READ'],
        ['a\u202Eb', 'WRITE'],
      ],
    ),
    'NAME      CLASS\nabc       READ\na\\u202eb  WRITE\n',
  );
  assert.equal(render('json', [], [], { rows: [] }), '{\n  "rows": []\n}\n');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csv, jsonText, markdown, problemLines, render, table } from './format.ts';

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
  assert.equal(markdown(['a'], [['x|y\u001b[31m\nz']]), '| a |\n|---|\n| x\\|y⟨U+001B⟩[31m⟨U+000A⟩z |\n');
});

test('table: aligned columns, headers upper-cased, bidi and zero-width characters marked as the pages mark them', () => {
  assert.equal(
    table(
      ['name', 'class'],
      [
        ['abc', 'READ'],
        ['a\u202Eb', 'WRITE'],
      ],
    ),
    'NAME        CLASS\nabc         READ\na⟨U+202E⟩b  WRITE\n',
  );
  assert.equal(render('json', [], [], { rows: [] }), '{\n  "rows": []\n}\n');
});

test('problemLines: at most three of a kind, then a count; other kinds and files each their own lines', () => {
  const untrusted = 'signed by key k1, which is not among the trusted keys';
  const problems = [
    ...Array.from({ length: 34 }, (_, i) => ({
      file: 'checkpoints.json',
      problem: `checkpoint of stream s1 seq ${i + 1}: ${untrusted}`,
    })),
    { file: 'audit.jsonl', problem: 'stream s1 seq 4: the record does not match its hash (edited)' },
    { file: 'manifest.json', problem: 'the manifest is signed by key k1' },
  ];
  assert.deepEqual(problemLines(problems), [
    `FAIL checkpoints.json: checkpoint of stream s1 seq 1: ${untrusted}`,
    `FAIL checkpoints.json: checkpoint of stream s1 seq 2: ${untrusted}`,
    `FAIL checkpoints.json: checkpoint of stream s1 seq 3: ${untrusted}`,
    'FAIL checkpoints.json: ... and 31 more checkpoint(s) with the same problem (--json lists every one)',
    'FAIL audit.jsonl: stream s1 seq 4: the record does not match its hash (edited)',
    'FAIL manifest.json: the manifest is signed by key k1',
  ]);
  // Different problems of the same file are never folded together.
  const two = [
    { file: 'a', problem: 'stream s seq 1: x' },
    { file: 'a', problem: 'stream s seq 2: y' },
  ];
  assert.equal(problemLines(two, 1).length, 2);
});

test('jsonText: numbers under time keys become ISO 8601; other numbers and implausible moments stay', () => {
  const at = Date.UTC(2026, 11, 7, 10, 0, 0);
  assert.deepEqual(JSON.parse(jsonText({ createdAt: at, actions: [{ at }], version: at, count: 3, setAt: 5 })), {
    createdAt: '2026-12-07T10:00:00.000Z',
    actions: [{ at: '2026-12-07T10:00:00.000Z' }],
    version: at,
    count: 3,
    setAt: 5,
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quote } from './errors.ts';

test('a quoted name shows look-alikes and hidden characters with their code points, as pages and the CLI do', () => {
  const cases: Array<[string, string]> = [
    ['delete_repo', '`delete_repo`'],
    ['d\u0435lete_repo', '`d\u0435⟨U+0435⟩lete_repo`'], // Cyrillic е
    ['\u03bfpen', '`\u03bf⟨U+03BF⟩pen`'], // Greek ο
    ['rm\u200b_all', '`rm⟨U+200B⟩_all`'], // zero-width space
    ['safe\u202etxt.exe', '`safe⟨U+202E⟩txt.exe`'], // right-to-left override
    ['\u2066x\u2069', '`⟨U+2066⟩x⟨U+2069⟩`'], // isolates
    ['e\u0301\u0301', '`e⟨U+0301 ×2⟩`'], // combining marks, counted
    ['a\nb\u0000', '`a⟨U+000A⟩b⟨U+0000⟩`'], // controls
  ];
  for (const [given, shown] of cases) assert.equal(quote(given), shown, JSON.stringify(given));
  for (const [given] of cases)
    assert.match(quote(given), /^[\x20-\x7e⟨⟩×\u0435\u03bf…]*$/u, 'no hidden character left');
});

test('bounded, and cut between code points: half of an emoji is never shown as a character of its own', () => {
  assert.equal(quote('x'.repeat(100), 10), `\`${'x'.repeat(10)}…\``);
  assert.equal(quote(`${'x'.repeat(9)}😀tail`, 10), `\`${'x'.repeat(9)}…\``);
  assert.doesNotMatch(quote(`${'x'.repeat(9)}😀tail`, 10), /D83D/);
  assert.equal(quote({ a: 1 }), '`{"a":1}`');
});

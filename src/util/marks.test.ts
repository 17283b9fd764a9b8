import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identifier, oneLine, outsideAscii, visible } from './marks.ts';

test('Unicode spaces and blank letters are marked, a run counted; ASCII space, \\n and \\t stay (walk S, F2)', () => {
  assert.equal(visible('a\u3000b'), 'a⟨U+3000⟩b');
  assert.equal(visible(`x${'\u3000'.repeat(500)}y`), 'x⟨U+3000 ×500⟩y');
  assert.equal(visible('\u2800\u2800\u2800\n\u2800'), '⟨U+2800 ×3⟩\n⟨U+2800⟩');
  assert.equal(visible('\u00A0\u2003\u2003'), '⟨U+00A0⟩⟨U+2003 ×2⟩');
  for (const ch of ['\u2000', '\u200A', '\u202F', '\u205F', '\u1680', '\u3164', '\u115F', '\u180E'])
    assert.match(visible(`x${ch}y`), /^x⟨U\+[0-9A-F]{4}⟩y$/, `U+${ch.codePointAt(0)!.toString(16)}`);
  assert.equal(visible('a b  c\n\td'), 'a b  c\n\td');
});

test('U+FE0F is kept after an emoji or in a keycap, marked anywhere else; other variation selectors always', () => {
  assert.equal(
    visible('❤\uFE0F 👍\uFE0F ✌\uFE0F 1\uFE0F\u20E3 #\uFE0F\u20E3'),
    '❤\uFE0F 👍\uFE0F ✌\uFE0F 1\uFE0F\u20E3 #\uFE0F\u20E3',
  );
  assert.equal(visible('a.txt\uFE0F'), 'a.txt⟨U+FE0F⟩');
  assert.equal(visible('file1\uFE0F'), 'file1⟨U+FE0F⟩', 'a digit takes it only as a keycap');
  assert.equal(visible('\uFE0Fstart'), '⟨U+FE0F⟩start');
  assert.equal(visible('❤\uFE0F\uFE0F'), '❤\uFE0F⟨U+FE0F⟩');
  assert.equal(visible('a\uFE00b\u{E0100}'), 'a⟨U+FE00⟩b⟨U+E0100⟩');
});

test('more than four combining marks on a character are marked, many counted; scripts that use marks read as before', () => {
  assert.equal(visible('a\u0301\u0301\u0301\u0301\u0301'), 'a⟨U+0301 ×5⟩');
  assert.equal(visible('a\u0300\u0301\u0302\u0303\u0304b'), 'a⟨U+0300⟩⟨U+0301⟩⟨U+0302⟩⟨U+0303⟩⟨U+0304⟩b');
  const zalgo = `z${Array.from({ length: 500 }, (_, i) => String.fromCodePoint(0x300 + (i % 40))).join('')}!`;
  assert.equal(visible(zalgo), 'z⟨500 combining marks: U+0300 U+0301 U+0302 U+0303 U+0304 U+0305 U+0306 U+0307 …⟩!');
  for (const readable of [
    'Tiếng Việt có dấu'.normalize('NFD'),
    'Привет, мир: документ изменён',
    'हिन्दी में लिखा पाठ',
    'שָׁלוֹם עֲלֵיכֶם',
    'السلام عليكم',
    '中文文本，日本語のテキスト',
    'e\u0301\u0301\u0301\u0301',
  ])
    assert.equal(visible(readable), readable, readable);
  const once = visible(`${zalgo}\u3000\u3000a\uFE0F`);
  assert.equal(visible(once), once, 'idempotent');
});

test('a name shows every character outside printable ASCII with its code point; ASCII names are unchanged', () => {
  assert.equal(identifier('/data/а.txt'), '/data/а⟨U+0430⟩.txt');
  assert.equal(identifier('/data/a.txt'), '/data/a.txt');
  assert.equal(identifier('files__write_file'), 'files__write_file');
  assert.equal(identifier('ааа'), 'а⟨U+0430⟩а⟨U+0430⟩а⟨U+0430⟩', 'each look-alike letter');
  assert.equal(identifier('café'.normalize('NFD')), 'cafe⟨U+0301⟩');
  assert.equal(identifier('x\u3000\u3000\u3000y'), 'x⟨U+3000 ×3⟩y');
  assert.equal(identifier('a\u200Bb\u202Ec\nd'), 'a⟨U+200B⟩b⟨U+202E⟩c⟨U+000A⟩d');
  assert.equal(identifier('a.txt\uFE0F'), 'a.txt⟨U+FE0F⟩');
  assert.equal(identifier('😀'), '😀⟨U+1F600⟩');
  assert.equal(outsideAscii('/data/а.txt'), true);
  assert.equal(outsideAscii('/data/a.txt'), false);
  assert.equal(outsideAscii('tab\there'), true, 'a control character is outside printable ASCII');
});

test('oneLine marks line breaks too', () => {
  assert.equal(oneLine('a\nb\tc\u3000'), 'a⟨U+000A⟩b⟨U+0009⟩c⟨U+3000⟩');
});

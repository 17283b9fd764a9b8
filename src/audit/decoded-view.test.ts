import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UNREAD, boundOf, decodedMade, decodedText, decodedView, withDecodeBudget } from './decoded-view.ts';
import { Redactor } from './redact.ts';

/** Each form and what it reads as. */
const FORMS: Array<[string, string]> = [
  ['a%2Db%2dc', 'a-b-c'],
  ['%63%61%6E', 'can'],
  // NFKD: é is e and a mark, which goes where ASCII is on both sides (the matcher reads a value so too).
  ['%C3%A9t%C3%A9', 'ete\u0301'],
  ['%252D', '-'],
  ['\\u0063\\u0061n', 'can'],
  ['\\\\u0063an', 'can'],
  ['\\u{63}\\u{1F600}', 'c😀'],
  ['\\x63\\x61n', 'can'],
  ['c&#97;n&#x61;&#X72y', 'canary'],
  ['ｃａｎ', 'can'],
  ['𝐜𝐚𝐧', 'can'],
  ['ﬁne', 'fine'],
  ['％６３an', 'can'],
  ['c\u200ban\u0301a', 'cana'],
  ['%5Cu0063an', 'can'],
];

test('each form reads as its text; the view says where each character came from', () => {
  for (const [form, plain] of FORMS) {
    const text = `x ${form} y`;
    assert.equal(decodedText(text), `x ${plain} y`, form);
    const view = decodedView(text);
    assert.equal(view?.text, `x ${plain} y`, form);
    // The view's text between the markers came from the form, and only from it.
    assert.equal(view.from[2], 2, form);
    assert.equal(view.to[view.text.length - 3], 2 + form.length, form);
    assert.equal(view.from[view.text.length - 1], text.length - 1, form);
  }
});

test('plain ASCII and escapes that escape nothing have no view', () => {
  for (const s of ['plain text, "quoted" / (x)', '100% done, %zz, %4', 'a\\nb \\q \\u12 \\x4', '&amp; &#; &#x;', '']) {
    assert.equal(decodedText(s), undefined, s);
    assert.equal(decodedView(s), undefined, s);
  }
  // A byte that starts no UTF-8 character stays as it was written; the rest is read.
  assert.equal(decodedText('%C3 %41'), '%C3 A');
  assert.equal(decodedText('%FF%41'), '%FFA');
});

test('the decoding is bounded: escapes of escapes three deep at most, linear in the text', () => {
  assert.equal(decodedText('%25252541'), '%41', 'three rounds, then it stops');
  const long = '%2525'.repeat(200_000);
  const started = performance.now();
  const out = decodedText(long);
  assert.ok(performance.now() - started < 2000, 'a megabyte of escapes decodes in bounded time');
  assert.equal(out, '%'.repeat(200_000));
  assert.equal(decodedText('a%41'), 'aA');
  assert.equal(decodedText('a%41'), 'aA', 'the memo answers as the reading');
  const marks = `a${'\u0301'.repeat(100_000)}b`;
  assert.equal(decodedText(marks), 'ab');
  assert.equal(decodedView(marks)?.to[1], marks.length);
});

test('text outside ASCII that hides nothing keeps its letters (only look-alikes fold)', () => {
  assert.equal(decodedText('日本語のテキスト'), undefined);
  assert.equal(decodedText('ｈｅｌｌｏ，世界'), 'hello,世界');
});

/** The attacker walk's hostile texts (about 1 MiB each): what each reads as, and the characters made reading it. */
const HOSTILE: Array<[string, string]> = [
  ['999k U+FDFA (NFKD: 18 each)', '\ufdfa'.repeat(999_000)],
  ['%63anary and U+FDFA', `%63anary ${'\ufdfa'.repeat(999_000)}`],
  ['a fake GitHub token escaped and U+FDFA', `%67hp_${'a1B2c3D4e5'.repeat(3)}F6g7H8 ${'\ufdfa'.repeat(999_000)}`],
  ['&#xFDFA; references', '&#xFDFA;'.repeat(131_072)],
  ['\\u0025 escapes of percent escapes of U+FDFA', '\\u0025EF\\u0025B7\\u0025BA'.repeat(43_690)],
];

test('a text whose reading would grow past its bound is UNREAD, and no more than the bound is made reading it', () => {
  for (const [name, s] of HOSTILE) {
    const before = decodedMade();
    assert.equal(decodedText(s), UNREAD, name);
    const made = decodedMade() - before;
    // Every prefix reads as at most four times itself plus 16K: NFKD stops within a chunk of that.
    assert.ok(made <= 64 * 1024, `${name}: ${made} characters made (before: up to 18,874,368)`);
    assert.equal(decodedText(s), UNREAD, `${name}: the memo answers as the reading`);
  }
});

test('escape runs, invisible runs and combining marks only shrink a text: read whole, never past the input', () => {
  for (const [name, s] of [
    ['nested %2525', '%25252D'.repeat(150_000)],
    ['mixed escapes', '%2D\\u0063\\x41&#99;\\u{63}'.repeat(40_000)],
    ['combining run', `a${'\u0301'.repeat(50)}`.repeat(20_000)],
    ['zero-width run', 'a\u200b'.repeat(500_000)],
  ]) {
    const before = decodedMade();
    const d = decodedText(s);
    assert.equal(typeof d, 'string', name);
    assert.ok((d as string).length <= s.length, name);
    assert.ok(decodedMade() - before <= s.length, `${name}: NFKD made no more than the text`);
  }
});

test('ordinary text outside ASCII is read whole: Korean (NFKD: three letters a syllable), a short run of ligatures', () => {
  const korean = '한국어 텍스트입니다 '.repeat(50_000);
  const d = decodedText(korean);
  assert.equal(typeof d, 'string');
  assert.ok((d as string).length > 2 * korean.length && (d as string).length <= boundOf(korean.length));
  assert.equal(decodedText(`${'\ufdfa'.repeat(800)} %41`), `${'\ufdfa'.normalize('NFKD').repeat(800)} A`);
  // The view (with its map) reads a long text as the text reading does, chunks and all.
  const mixed = `${'ｃａｎ 한국어 é '.repeat(20_000)}%41`;
  assert.equal(decodedView(mixed)?.text, decodedText(mixed));
});

test('one walk (a request, a record) shares one bound: texts that each fit are UNREAD once it is spent', () => {
  const before = decodedMade();
  const answers = withDecodeBudget(() =>
    Array.from({ length: 700 }, (_, i) => decodedText(`${i} ${'\ufdfa'.repeat(900)}`)),
  );
  assert.equal(typeof answers[0], 'string', 'each fits its own bound (900 ligatures: 16,200 characters)');
  assert.equal(answers.at(-1), UNREAD, "past the walk's budget");
  const made = decodedMade() - before;
  assert.ok(made <= 8 * 1024 * 1024 + 17_000, `${made} characters made for 700 texts (unbounded: 11.3M)`);
  // Outside a walk each text has its own bound again (the spent budget left no answer behind).
  assert.equal(typeof decodedText(`699 ${'\ufdfa'.repeat(900)}`), 'string');
});

test('the audit redactor takes a text past the bound whole, the one that holds a secret too', () => {
  const secret = 'canary-acme-0123456789';
  const r = new Redactor({ secrets: [secret], maxStringLength: 2_000_000 });
  for (const [name, s] of [...HOSTILE, ['a secret and U+FDFA', `${secret} ${'\ufdfa'.repeat(999_000)}`]]) {
    const out = JSON.stringify(r.redact({ text: s }).value);
    assert.ok(!out.includes('\ufdfa') && !out.includes('FDFA') && !out.includes(secret), name);
    assert.match(out, /\[REDACTED:(not-inspectable|secret)\]/, name);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodedText, decodedView } from './decoded-view.ts';

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
  assert.equal(decodedText(''), undefined, 'a text too long for the memo leaves no answer behind');
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

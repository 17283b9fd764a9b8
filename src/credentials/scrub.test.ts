import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretScrubber } from './scrub.ts';

const GITHUB = `ghp_${'Q7x2Lm9Kp4'.repeat(3)}Zt81Wd`;

test('patterns: an identifier (a name, a URI, a type) is kept, but what such a key holds that is no string is scanned', () => {
  const scrubber = new SecretScrubber();
  const out = scrubber.patterns({
    name: `tool-${GITHUB}`,
    uri: `file:///srv/${GITHUB}`,
    // An elicitation's requestedSchema: a property called `name`, another called `type`.
    properties: {
      name: { type: 'string', description: `for ${GITHUB}`, default: GITHUB },
      type: { type: 'string', enum: [GITHUB] },
    },
  });
  assert.deepEqual(out, {
    name: `tool-${GITHUB}`,
    uri: `file:///srv/${GITHUB}`,
    properties: {
      name: { type: 'string', description: 'for [REDACTED:github-token]', default: '[REDACTED:github-token]' },
      type: { type: 'string', enum: ['[REDACTED:github-token]'] },
    },
  });
});

test('a secret split across text blocks is cut out of each part, whatever sits between them (an image, an embedded resource)', () => {
  const secret = 'split-canary-Rt5Yu2Mn8Q';
  const scrubber = new SecretScrubber();
  scrubber.update([secret]);
  const image = { type: 'image', data: 'AAAA', mimeType: 'image/png' };
  const content = [
    { type: 'text', text: `key ${secret.slice(0, 6)}` },
    image,
    { type: 'resource', resource: { uri: 'file:///a', text: secret.slice(6, 12) } },
    image,
    { type: 'text', text: `${secret.slice(12)} end` },
  ];
  const out = scrubber.value({ content });
  assert.ok(!JSON.stringify(out).includes(secret.slice(0, 6)), JSON.stringify(out));
  assert.ok(!JSON.stringify(out).includes(secret.slice(12)), JSON.stringify(out));
  assert.deepEqual(out.content[1], image, 'what holds no text is left as it was');
  assert.equal((out.content[0] as { text: string }).text, 'key [REDACTED:credential]');
  assert.equal((out.content[4] as { text: string }).text, '[REDACTED:credential] end');
  assert.equal((out.content[2] as { resource: { uri: string; text: string } }).resource.uri, 'file:///a');
  assert.deepEqual(scrubber.find({ content }), ['injected credential'], 'and found, for what goes upstream');
});

test('find: a token split by a mark that shows nothing (combining, variation selector, U+034F, zero-width, a lone surrogate) is found', () => {
  const canary = 'canary-Vb7Nq3Lp9Zx';
  const scrubber = new SecretScrubber();
  scrubber.update([canary]);
  const split = (t: string, at: number, mark: string) => `note: ${t.slice(0, at)}${mark}${t.slice(at)} end`;
  for (const mark of ['\u034f', '\ufe0f', '\u0301', '\u200b', '\u{e0100}', '\ud800', '\udc00\u0301']) {
    assert.deepEqual(scrubber.find({ a: split(GITHUB, 20, mark) }), ['github-token'], JSON.stringify(mark));
    assert.deepEqual(scrubber.find({ [split('AKIAIOSFODNN7EXAMPLE', 4, mark)]: 1 }), ['aws-access-key'], 'in a key');
    assert.deepEqual(scrubber.find([split(canary, 9, mark)]), ['injected credential']);
  }
  // Text whose marks hide no token is not a credential, and is never changed by the look.
  const plain = { t: 'café, nai\u0308ve, e\u0301te\u0301, 👍\ufe0f, a\u200bb' };
  assert.deepEqual(scrubber.find(plain), []);
  assert.equal(plain.t, 'café, nai\u0308ve, e\u0301te\u0301, 👍\ufe0f, a\u200bb');
});

/** A canary and each form of it the finder reads through (src/audit/decoded-view.ts), by name. */
const TB = 'canary-tb-7Qx2Lm9Kp4Zt81';
const fullwidth = (s: string) => [...s].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
const FORMS: Record<string, string> = {
  'every byte percent-encoded': [...Buffer.from(TB)].map((b) => `%${b.toString(16)}`).join(''),
  'one character percent-encoded (not one encodeURIComponent escapes)': TB.replace(/-/g, '%2D'),
  'percent-encoded twice': TB.replace(/-/g, '%252d'),
  '\\u escapes as text': [...TB].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
  'JSON escaped twice as text': TB.replace(/c/g, '\\\\u0063'),
  '\\u{} escapes': TB.replace(/a/g, '\\u{61}'),
  '\\x escapes': [...Buffer.from(TB)].map((b) => `\\x${b.toString(16)}`).join(''),
  'HTML references': TB.replace(/a/g, '&#97;').replace(/-/g, '&#x2D;'),
  'fullwidth letters': fullwidth(TB),
  'fullwidth in part': TB.slice(0, 10) + fullwidth(TB.slice(10)),
  'mathematical bold digits': TB.replace(/\d/g, (d) => String.fromCodePoint(0x1d7ce + Number(d))),
  'fullwidth percent escapes': fullwidth('%63%61') + TB.slice(2),
  'UTF-16LE hex': Buffer.from(TB, 'utf16le').toString('hex'),
  'UTF-16BE hex, upper case': Buffer.from(TB, 'utf16le').swap16().toString('hex').toUpperCase(),
  'UTF-16LE base64 (PowerShell)': Buffer.from(TB, 'utf16le').toString('base64'),
};

test('find: another value percent-, \\u-, \\x- or HTML-escaped (any mix), in look-alike letters or UTF-16, is a credential', () => {
  const scrubber = new SecretScrubber();
  scrubber.update([TB, 'canary-ta-0000aaaa1111']);
  for (const [name, form] of Object.entries(FORMS)) {
    assert.deepEqual(scrubber.find({ repo: `see ${form} end` }), ['injected credential'], name);
    assert.deepEqual(scrubber.find({ [`k ${form}`]: 1 }), ['injected credential'], `${name}, in a key`);
  }
});

test('text, value: each form is cut out of what it was written in, the rest kept', () => {
  const scrubber = new SecretScrubber();
  scrubber.update([TB]);
  for (const [name, form] of Object.entries(FORMS)) {
    assert.equal(scrubber.text(`see ${form} end`), 'see [REDACTED:credential] end', name);
    assert.deepEqual(scrubber.value({ a: [`x ${form}`] }), { a: ['x [REDACTED:credential]'] }, name);
  }
});

test('find: a well-known token escaped or in look-alike letters is one', () => {
  const scrubber = new SecretScrubber();
  const pct = [...GITHUB].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('');
  assert.deepEqual(scrubber.find({ a: `token=${pct}` }), ['github-token']);
  assert.deepEqual(scrubber.find({ a: fullwidth('AKIAIOSFODNN7EXAMPLE') }), ['aws-access-key']);
  assert.deepEqual(scrubber.find({ a: GITHUB.replace(/_/g, '\\u005f') }), ['github-token']);
  assert.equal(scrubber.patterns(`t ${pct} end`), 't [REDACTED:github-token] end');
});

test('find: look-alike texts that hold no value are not credentials', () => {
  const scrubber = new SecretScrubber();
  scrubber.update([TB]);
  const near = `${TB.slice(0, -1)}2`;
  const benign = [
    'search?q=100%25%20done&x=%zz%4',
    'C:\\Users\\ada\\x41 \\u00e9t\\u00e9 \\u{1F600}',
    '&#169; 2026 &amp; &#x;',
    'ｈｅｌｌｏ　ｗｏｒｌｄ，你好',
    'café, naïve, e\u0301te\u0301, 👍\ufe0f',
    near.replace(/-/g, '%2D'),
    fullwidth(near),
    Buffer.from(near, 'utf16le').toString('hex'),
  ];
  for (const b of benign) {
    assert.deepEqual(scrubber.find({ a: b }), [], b);
    assert.equal(scrubber.text(b), b, b);
  }
});

test('a text whose decoded reading would pass its bound is never clean: find names where, value and patterns take it whole', () => {
  const secret = 'canary-acme-0123456789';
  const scrubber = new SecretScrubber();
  scrubber.update([secret]);
  const wide = '\ufdfa'.repeat(999_000);
  const found = scrubber.find({ name: 'echo', arguments: { notes: [{ text: `%63anary ${wide}` }] } });
  assert.equal(found.length, 1, found.join(' | '));
  assert.match(found[0], /^not inspectable: `arguments\.notes\[0\]\.text` does not read within its bound/);
  // Content blocks read together (a value split across them) are bounded as one text too.
  const blocks = scrubber.find({ arguments: { notes: ['ok', { text: wide }] } }).map((k) => k.split('` ')[0]);
  assert.deepEqual(blocks, ['not inspectable: `arguments.notes', 'not inspectable: `arguments.notes[1].text']);
  // Its raw reading still decides what it says.
  const both = scrubber.find({ arguments: { q: `${secret} ${wide}` } });
  assert.deepEqual(
    both.map((k) => k.split(':')[0]),
    ['injected credential', 'not inspectable'],
  );
  const value = scrubber.value({ text: `${secret.replace('c', '%63')} ${wide}` });
  assert.deepEqual(value, { text: '[REDACTED:credential]' });
  const shown = scrubber.patterns({ text: `%67hp_${'Q7x2Lm9Kp4'.repeat(3)}Zt81Wd ${wide}` });
  assert.deepEqual(shown, { text: '[REDACTED:not-inspectable]' });
  // A short run of the same reads as it is (one bound of its own per text).
  assert.deepEqual(scrubber.find({ q: `${'\ufdfa'.repeat(10)} plain` }), []);
});

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

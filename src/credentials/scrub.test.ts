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

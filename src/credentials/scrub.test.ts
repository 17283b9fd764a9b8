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

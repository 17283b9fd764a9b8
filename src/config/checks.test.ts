/**
 * What `gatehouse config validate` finds beyond the schema's shapes, each at its file, line and key
 * (walk L): a misspelt required key with its suggestion.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './load.ts';

function errors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'g.yaml', env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split('\n');
  }
  return [];
}

test('a misspelt `transport` is suggested, and the server is still checked as the variant it names', () => {
  assert.deepEqual(errors('version: 1\nservers:\n  - name: a\n    transprot: stdio\n    comand: npx\n'), [
    'g.yaml:4:5: servers[0]: unknown key `transprot` (did you mean `transport`?)',
    'g.yaml:5:5: servers[0]: unknown key `comand` (did you mean `command`?)',
  ]);
  assert.deepEqual(errors('version: 1\nservers:\n  - name: a\n    transprot: carrier-pigeon\n    command: npx\n'), [
    'g.yaml:4:5: servers[0]: unknown key `transprot` (did you mean `transport`? one of `stdio`, `http`, `sse`)',
  ]);
  assert.deepEqual(errors('version: 1\nservers:\n  - { name: a, command: npx }\n'), [
    'g.yaml:3:5: servers[0]: missing required key `transport` (one of `stdio`, `http`, `sse`)',
  ]);
  assert.deepEqual(errors('verison: 1\nservers: []\n'), [
    'g.yaml:1:1: unknown key `verison` (did you mean `version`?)',
  ]);
});

test('a redaction path the redactor cannot read is refused at its line, by the redactor’s own parser', () => {
  const config = (paths: string) => `version: 1\naudit:\n  redact:\n    paths:\n${paths}servers: []\n`;
  assert.deepEqual(errors(config('      - "$..[[[bad"\n      - arguments.email\n      - "$.items[*].card"\n')), [
    'g.yaml:5:9: audit.redact.paths[0]: not a redaction path: unclosed [ at 3 (paths look like `$.arguments.email`, `$..ssn`, `$.items[*].card`)',
    'g.yaml:6:9: audit.redact.paths[1]: not a redaction path: must start with $ (paths look like `$.arguments.email`, `$..ssn`, `$.items[*].card`)',
  ]);
  assert.deepEqual(errors(config('      - "$.arguments.email"\n      - "$..ssn"\n')), []);
});

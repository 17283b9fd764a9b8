import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig } from './load.ts';
import { starterConfig } from './starter.ts';
import { renderSchema } from './json-schema.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function issues(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 'g.yaml', env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('the committed JSON Schema is what the TypeBox source generates (npm run schema)', () => {
  assert.equal(readFileSync(join(ROOT, 'schema/gatehouse.schema.json'), 'utf8'), renderSchema());
});

test('the starter config and the quickstart parse', async () => {
  const starter = parseConfig(starterConfig(), '/tmp/x/gatehouse.yaml', {});
  assert.equal(starter.servers[0].name, 'everything');
  const quick = await loadConfig(join(ROOT, 'examples/quickstart.yaml'), {});
  assert.deepEqual(quick.servers.map((s) => s.name), ['everything', 'files']);
  assert.equal(quick.gateway.stateDir, join(ROOT, '.gatehouse'));
  assert.deepEqual((quick.servers[1] as { args: string[] }).args.slice(-1), [join(ROOT, '.gatehouse', 'sandbox')]);
});

test('defaults are filled and paths made absolute', () => {
  const c = parseConfig('version: 1\nservers:\n  - { name: a, transport: stdio, command: x, cwd: sub }\n  - { name: b, transport: http, url: "http://127.0.0.1:1/mcp" }\n', '/etc/gh/g.yaml', {});
  assert.deepEqual(c.gateway.listen, { host: '127.0.0.1', port: 8765 });
  assert.equal(c.gateway.stateDir, '/etc/gh/.gatehouse');
  assert.equal(c.storage.sqlitePath, '/etc/gh/.gatehouse/gatehouse.db');
  assert.deepEqual(c.servers[0].timeouts, { connectMs: 15_000, requestMs: 60_000, maxTotalMs: 300_000 });
  assert.equal((c.servers[0] as { cwd: string }).cwd, '/etc/gh/sub');
  assert.equal(c.gateway.namespaceSeparator, '__');
});

test('environment references: values, defaults, escapes', () => {
  const c = parseConfig('version: 1\nservers:\n  - name: a\n    transport: stdio\n    command: "${CMD}"\n    args: ["${MISSING:-fallback}", "$${LITERAL}"]\n', 'g.yaml', { CMD: 'run-me' });
  assert.equal((c.servers[0] as { command: string }).command, 'run-me');
  assert.deepEqual((c.servers[0] as { args: string[] }).args, ['fallback', '${LITERAL}']);
});

test('golden errors: each names file, line, column, key and what is wrong', () => {
  assert.deepEqual(issues('version: 1\nservers: [\n'), ['g.yaml:3:1: flow sequence in block collection must be sufficiently indented and end with a ]']);
  assert.deepEqual(issues('version: 1\nservers:\n  - name: a\n    transport: stdio\n    comand: x\n'), [
    'g.yaml:3:5: servers[0]: missing required key `command`',
    'g.yaml:5:5: servers[0]: unknown key `comand` (did you mean `command`?)',
  ]);
  assert.deepEqual(issues('version: 1\ngateway:\n  listen: { port: "80" }\nservers: []\n'), ['g.yaml:3:19: gateway.listen.port: must be an integer']);
  assert.deepEqual(issues('version: 1\nservers:\n  - { name: a, transport: websocket, url: "ws://x" }\n'), ['g.yaml:3:27: servers[0].transport: must be one of `stdio`, `http`, `sse`']);
  assert.deepEqual(issues('version: 1\nservers:\n  - { name: a, transport: stdio, command: "${TOKEN}" }\n'), [
    'g.yaml:3:43: servers[0].command: environment variable `TOKEN` is not set (use ${TOKEN:-default} for a default)',
  ]);
  assert.deepEqual(issues('version: 1\nservers:\n  - { name: a, transport: stdio, command: x }\n  - { name: a, transport: stdio, command: y }\n'), [
    'g.yaml:4:13: servers[1].name: duplicate server name `a` (first used by servers[0])',
  ]);
  assert.deepEqual(issues('version: 1\nversion: 1\nservers: []\n'), ['g.yaml:2:1: duplicate key `version`']);
  assert.deepEqual(issues('version: 1\nservers:\n  - { name: a__b, transport: stdio, command: x }\n'), [
    'g.yaml:3:13: servers[0].name: server name `a__b` contains the namespace separator `__`',
  ]);
  assert.deepEqual(issues('version: 1\nstorage: { driver: postgres }\nservers: []\n'), ['g.yaml:2:20: storage.driver: the postgres driver needs `postgresUrl`']);
});

test('a secret from the environment is never echoed in an error', () => {
  const lines = issues('version: 1\ngateway:\n  listen: { port: "${PORT}" }\nservers: []\n', { PORT: 'hunter2-secret' });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /hunter2/);
});

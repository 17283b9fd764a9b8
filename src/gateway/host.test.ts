import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { prepareHost } from './host.ts';
import { checkServerNames } from '../config/server-names.ts';

const config = (stateDir: string, names: string[]) =>
  parseConfig(
    `version: 1\ngateway: { stateDir: ${JSON.stringify(stateDir)} }\nservers:\n${names.map((n) => `  - { name: ${n}, transport: http, url: "http://127.0.0.1:9/mcp" }\n`).join('')}`,
    '/srv/g.yaml',
    {},
  );

test('a server name holding the namespace separator is refused, even in a config the loader did not check (a program built it)', () => {
  const c = config('/tmp/unused', ['ok', 'a']);
  checkServerNames(c);
  c.servers[1].name = 'a__b';
  assert.throws(() => checkServerNames(c), /server name `a__b` contains the namespace separator `__`/);
});

test('prepareHost makes the state directory and its sandbox folder, private to the gateway', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-host-'));
  try {
    const state = join(dir, 'state');
    await prepareHost(config(state, ['ok']));
    for (const d of [state, join(state, 'sandbox')]) assert.equal(statSync(d).mode & 0o777, 0o700, d);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from './load.ts';
import { watchConfig, type ConfigWatcher } from './watch.ts';
import type { Config } from './schema.ts';

const good = (port: number) => `version: 1\ngateway:\n  listen: { port: ${port} }\nservers: []\n`;

async function until(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-watch-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, good(1111));
  const changes: Config[] = [];
  const errors: Error[] = [];
  const watcher: ConfigWatcher = watchConfig(file, {
    onChange: (c) => changes.push(c),
    onError: (e) => errors.push(e),
    env: {},
  });
  t.after(() => {
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, file, changes, errors, watcher };
}

test('a change reloads; a broken change reports its line and hands over nothing; a fix reloads again', async (t) => {
  const { dir, file, changes, errors } = setup(t);
  writeFileSync(file, good(2222));
  await until('the first change', () => changes.length === 1);
  assert.equal(changes[0].gateway.listen.port, 2222);

  writeFileSync(file, 'version: 1\nservers:\n  - name: x\n    transport: nope\n');
  await until('the error', () => errors.length === 1);
  assert.ok(errors[0] instanceof ConfigError);
  assert.equal(errors[0].message, `${file}:4:16: servers[0].transport: must be one of \`stdio\`, \`http\`, \`sse\``);
  assert.equal(changes.length, 1, 'nothing handed over from the broken file');

  // Editors often write a new file and rename it over the old one.
  writeFileSync(join(dir, 'gatehouse.yaml.tmp'), good(3333));
  renameSync(join(dir, 'gatehouse.yaml.tmp'), file);
  await until('the fix', () => changes.length === 2);
  assert.equal(changes[1].gateway.listen.port, 3333);
  assert.equal(errors.length, 1);
});

test('a burst of writes is one reload of the last text; other files and unchanged saves are ignored', async (t) => {
  const { dir, file, changes, errors } = setup(t);
  for (const port of [4001, 4002, 4003]) writeFileSync(file, good(port));
  await until('the reload', () => changes.length === 1);
  writeFileSync(join(dir, 'other.yaml'), 'not: [valid');
  writeFileSync(file, good(4003));
  await sleep(400);
  assert.deepEqual(
    changes.map((c) => c.gateway.listen.port),
    [4003],
  );
  assert.deepEqual(errors, []);
});

test('reload() (SIGHUP) reads the file even when unchanged; after close() nothing fires', async (t) => {
  const { file, changes, watcher } = setup(t);
  watcher.reload();
  await until('the forced reload', () => changes.length === 1);
  assert.equal(changes[0].gateway.listen.port, 1111);
  watcher.close();
  writeFileSync(file, good(5555));
  await sleep(400);
  assert.equal(changes.length, 1);
});

test('a policy file is watched with the config: an edit reloads with a new revision; a broken one reports its line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-watch-policy-'));
  const policyDir = join(dir, 'policies');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(policyDir);
  const policy = join(policyDir, 'policy.yaml');
  const rule = (id: string) => `rules:\n  - id: ${id}\n    tools: ['*']\n    classes: [READ]\n    effect: allow\n`;
  writeFileSync(policy, rule('first'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, 'version: 1\npolicy: { files: [policies/policy.yaml] }\nservers: []\n');
  const changes: Config[] = [];
  const errors: Error[] = [];
  const watcher = watchConfig(file, {
    policyFiles: [policy],
    onChange: (c) => changes.push(c),
    onError: (e) => errors.push(e),
    env: {},
  });
  t.after(() => {
    watcher.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(policy, rule('second'));
  await until('the policy change', () => changes.length === 1);
  assert.deepEqual(
    changes[0].policy!.compiled.rules.map((r) => r.id),
    ['second'],
  );
  writeFileSync(policy, `${rule('third')}    effect: maybe\n`);
  await until('the error', () => errors.length === 1);
  assert.ok(errors[0] instanceof ConfigError);
  assert.match(errors[0].message, /policy\.yaml:\d+:\d+: /);
  assert.equal(changes.length, 1, 'a broken policy hands over nothing');
});

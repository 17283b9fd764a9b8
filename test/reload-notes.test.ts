/**
 * What a reload says it could not apply: a changed listen address needs a restart, and the gateway
 * says so; a gateway started on port 0 (bound to a free port) reloading its unchanged file has not
 * changed its address (it said it had, on every reload). A state directory changed and put back is
 * compared with what runs as well: put back, it is no change.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { reloadLevel } from '../src/gateway/reload-plan.ts';

let t: TestGateway;
before(async () => {
  t = await startGateway('');
});
after(() => t?.close());

const LISTEN_CHANGED = 'listen address changed: restart the gateway to apply it';

test('a gateway started on port 0 reloading its unchanged file keeps its address, and says nothing of it', async () => {
  assert.match(readFileSync(t.file, 'utf8'), /port: 0 /);
  const notes = await t.gw.reload(await loadConfig(t.file));
  assert.ok(!notes.includes(LISTEN_CHANGED), notes.join('; '));
});

test('a reload naming another port says that a restart applies it, and the gateway stays where it listens', async () => {
  const before = t.url;
  writeFileSync(t.file, readFileSync(t.file, 'utf8').replace('port: 0 ', 'port: 1 '));
  const notes = await t.gw.reload(await loadConfig(t.file));
  assert.ok(notes.includes(LISTEN_CHANGED), notes.join('; '));
  assert.equal((await fetch(`${before}/healthz`)).status, 200);
});

test('a state directory changed says a restart applies it; put back as it runs, it says nothing (walk)', async () => {
  const text = readFileSync(t.file, 'utf8').replace('port: 1 ', 'port: 0 '); // as it was started
  const stateDir = /stateDir: (".*")/.exec(text)![1];
  const moved = text.replace(`stateDir: ${stateDir}`, `stateDir: ${JSON.stringify(join(t.dir, 'elsewhere'))}`);
  writeFileSync(t.file, moved);
  const notes = await t.gw.reload(await loadConfig(t.file));
  assert.ok(notes.includes('gateway.stateDir changed: restart the gateway to apply it'), notes.join('; '));
  assert.equal(reloadLevel(notes), 'warn', 'a reload applied in part is a warning');
  writeFileSync(t.file, text);
  const back = await t.gw.reload(await loadConfig(t.file));
  assert.ok(!back.some((n) => /restart the gateway/.test(n)), back.join('; '));
  assert.equal(reloadLevel(back), 'info');
});

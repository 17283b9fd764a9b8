/**
 * What a reload says it could not apply: a changed listen address needs a restart, and the gateway
 * says so; a gateway started on port 0 (bound to a free port) reloading its unchanged file has not
 * changed its address (it said it had, on every reload).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { loadConfig } from '../src/config/load.ts';

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

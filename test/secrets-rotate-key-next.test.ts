/**
 * `gatehouse secrets rotate-key` with something planted where it writes its new key aside
 * (`secrets.key.next`): a dangling symbolic link made it loop for ever (linking the new key failed
 * with EEXIST, the resume check followed the link and found nothing, a fresh key was written and
 * fsynced again, walk Z). Now the real CLI refuses at once, naming the file, and leaves the key as it was.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/gateway.ts';
import { LocalSecretStore, loadKey } from '../src/credentials/local-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rotate-next-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('rotate-key with a dangling link at secrets.key.next is refused at once by name; the key and secrets stay', async () => {
  const file = join(dir, 'g.yaml');
  const state = join(dir, 'state');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(state)}\nservers: []\n`,
  );
  // As `gatehouse secrets set foo` leaves it (that command reads the value from standard input).
  const secretsKey = await loadKey({ keyFile: join(state, 'secrets.key'), env: {} });
  await new LocalSecretStore(join(state, 'secrets.enc.json'), secretsKey).set('foo', 'v1');
  const key = readFileSync(join(state, 'secrets.key'), 'utf8');
  symlinkSync(join(dir, 'nonexistent'), join(state, 'secrets.key.next'));
  const started = Date.now();
  const r = await runCli(['secrets', 'rotate-key', '--config', file]);
  assert.notEqual(r.code, 0);
  assert.ok(Date.now() - started < 15_000, 'it ends');
  assert.match(
    r.stderr,
    /secrets\.key\.next is a symbolic link; rotate-key only ever writes a regular file there: remove it/,
  );
  assert.equal(readFileSync(join(state, 'secrets.key'), 'utf8'), key, 'the key file is left as it was');
  assert.deepEqual(
    readdirSync(state).filter((f) => f.includes('.tmp-')),
    [],
  );
  assert.equal(await new LocalSecretStore(join(state, 'secrets.enc.json'), secretsKey).get('foo'), 'v1');
});

/** The CLI's own audit streams: signed with the state directory's key, or recorded unsigned with a warning. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../storage/index.ts';
import { recordAdmin } from './admin-record.ts';

test('an admin action is recorded even where the signing key cannot be made, unsigned, and the operator is told', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-admin-record-'));
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'state.db') });
  const notADir = join(dir, 'file');
  writeFileSync(notADir, '');
  const said: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => said.push(String(chunk)) > 0) as typeof process.stderr.write;
  try {
    await recordAdmin(store, join(notADir, 'state'), 'ops@example', 'keys.revoke', { id: 'k1' });
    await recordAdmin(store, join(dir, 'state'), 'ops@example', 'keys.revoke', { id: 'k2' });
  } finally {
    process.stderr.write = write;
  }
  try {
    const kinds = (await store.audit.read({})).map(
      (r) => `${r.event.kind}${r.event.detail?.id ? ` ${r.event.detail.id}` : ''}`,
    );
    assert.deepEqual(kinds, [
      'stream.opened',
      'admin.action k1',
      'stream.closed',
      'stream.opened',
      'admin.action k2',
      'stream.closed',
      'audit.checkpoint',
    ]);
    assert.equal(said.length, 1);
    assert.match(said[0], /warning: this command's audit records are not signed: .* \(ENOTDIR\)/);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

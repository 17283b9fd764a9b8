import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateSigner } from '../audit/checkpoint.ts';
import { loadKey } from '../credentials/local-store.ts';
import { openSqlite } from '../storage/sqlite.ts';

const root = process.getuid?.() === 0;

test('keys and the state directory that another user could read or replace are refused, naming the path and what to do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-private-'));
  try {
    // The audit signing key, readable by others: whoever reads it signs as this gateway.
    const state = join(dir, 'state');
    loadOrCreateSigner(state); // created 0600: fine
    chmodSync(join(state, 'audit-signing-key.pem'), 0o644);
    assert.throws(
      () => loadOrCreateSigner(state),
      /audit signing key .*audit-signing-key\.pem is accessible by group or others \(mode 644\); chmod 600 it/,
    );
    chmodSync(join(state, 'audit-signing-key.pem'), 0o600);
    assert.doesNotThrow(() => loadOrCreateSigner(state));

    // A state directory others can write: they could swap the database.
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await assert.rejects(
      openSqlite(join(open, 'gatehouse.db')),
      /the state directory .*open is writable by group or others \(mode 777\); chmod go-w it/,
    );

    if (root) {
      // Planted by another user (here `nobody`), with the right mode: refused for its owner.
      const key = join(dir, 'secrets.key');
      writeFileSync(key, `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
      chownSync(key, 65534, 65534);
      await assert.rejects(
        loadKey({ keyFile: key, env: {} }),
        /key file .*secrets\.key belongs to user 65534, not to the user running gatehouse \(0\)/,
      );
      chownSync(join(state, 'audit-signing-key.pem'), 65534, 65534);
      assert.throws(() => loadOrCreateSigner(state), /belongs to user 65534/);
      // Mounted read-only for it (a Kubernetes Secret, defaultMode 0440, the pod's fsGroup): taken;
      // writable by the group, or readable by others, or by a group it is not in: refused.
      const pem = join(state, 'audit-signing-key.pem');
      chownSync(pem, 0, process.getgid?.() ?? 0);
      chmodSync(pem, 0o440);
      assert.doesNotThrow(() => loadOrCreateSigner(state));
      for (const mode of [0o460, 0o444]) {
        chmodSync(pem, mode);
        assert.throws(() => loadOrCreateSigner(state), /accessible by group or others/, mode.toString(8));
      }
      chownSync(pem, 0, 65534);
      chmodSync(pem, 0o440);
      assert.throws(() => loadOrCreateSigner(state), /accessible by group or others/, 'a group it is not in');
      chmodSync(pem, 0o600);
      chmodSync(open, 0o700);
      chownSync(open, 65534, 65534);
      await assert.rejects(openSqlite(join(open, 'gatehouse.db')), /the state directory .* belongs to user 65534/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

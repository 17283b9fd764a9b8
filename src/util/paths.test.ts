import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chownFolder } from './paths.ts';

test('chownFolder changes the folder made, and never what a symlink in its place points to (walk O)', (tc) => {
  if (process.getuid?.() !== 0) return tc.skip('changing an owner needs root');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-chown-'));
  try {
    const folder = join(dir, 'work');
    mkdirSync(folder);
    chownFolder(folder, 65534, 65534);
    assert.equal(statSync(folder).uid, 65534);
    // A root-only file, and a link to it where the folder was to be.
    const secret = join(dir, 'secrets.key');
    writeFileSync(secret, 'k', { mode: 0o600 });
    const swapped = join(dir, 'swapped');
    symlinkSync(secret, swapped);
    assert.throws(() => chownFolder(swapped, 65534, 65534));
    assert.equal(statSync(secret).uid, 0, 'the file a link pointed to is still root’s');
    // A link to a folder is not followed either.
    const linkToDir = join(dir, 'to-dir');
    symlinkSync(dir, linkToDir);
    assert.throws(() => chownFolder(linkToDir, 65534, 65534));
    assert.equal(statSync(dir).uid, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

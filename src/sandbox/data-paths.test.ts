import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openUnfollowed, PlantedLink, resolveUnplanted, writableFolders } from './data-paths.ts';

function folder(t: { after(fn: () => void): void }): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), 'gatehouse-data-paths-')));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('writableFolders: a shared folder as it is, the folder that holds every tenant folder for {tenant}', (t) => {
  const d = folder(t);
  assert.deepEqual(
    writableFolders([{ paths: { write: [join(d, 'shared'), join(d, 'data', '{tenant}', 'sub')] } }, undefined, {}]),
    [join(d, 'shared'), join(d, 'data')],
  );
});

test('resolveUnplanted: links in a written folder are refused; the operator’s links elsewhere are followed', (t) => {
  const d = folder(t);
  mkdirSync(join(d, 'data', 'acme'), { recursive: true });
  mkdirSync(join(d, 'data', 'globex'), { recursive: true });
  mkdirSync(join(d, 'real-data'));
  symlinkSync(join(d, 'data'), join(d, 'data-link')); // the operator's, outside any written folder
  const grounds = [join(d, 'data')];
  assert.equal(
    resolveUnplanted(join(d, 'data-link', 'acme', 'new', 'deeper'), grounds),
    join(d, 'data', 'acme', 'new', 'deeper'),
  );
  symlinkSync(join(d, 'data', 'globex'), join(d, 'data', 'acme', 'box'));
  symlinkSync('/etc', join(d, 'data', 'acme', 'etc'));
  for (const [path, link] of [
    [join(d, 'data', 'acme', 'box'), join(d, 'data', 'acme', 'box')],
    [join(d, 'data', 'acme', 'box', 'inner'), join(d, 'data', 'acme', 'box')],
    [join(d, 'data-link', 'acme', 'etc', 'passwd'), join(d, 'data', 'acme', 'etc')],
  ])
    assert.throws(
      () => resolveUnplanted(path, grounds),
      (err: unknown) => err instanceof PlantedLink && err.link === link && /refused, never followed/.test(err.message),
      path,
    );
  // A tenant's folder itself, a link in the folder of every tenant's folder: refused too.
  symlinkSync(join(d, 'data', 'globex'), join(d, 'data', 'evil'));
  assert.throws(() => resolveUnplanted(join(d, 'data', 'evil', 'x'), grounds), PlantedLink);
  // Outside any written folder, a link is followed as realpath follows it.
  assert.equal(resolveUnplanted(join(d, 'data', 'acme', 'box'), []), join(d, 'data', 'globex'));
});

test('openUnfollowed: the folder itself, never a link in its place or above it', (t) => {
  const d = folder(t);
  mkdirSync(join(d, 'a', 'b'), { recursive: true });
  mkdirSync(join(d, 'elsewhere', 'b'), { recursive: true });
  closeSync(openUnfollowed(join(d, 'a', 'b')));
  // A folder above swapped for a link after the check: the kernel names the folder opened elsewhere.
  renameSync(join(d, 'a'), join(d, 'a-was'));
  symlinkSync(join(d, 'elsewhere'), join(d, 'a'));
  assert.throws(
    () => openUnfollowed(join(d, 'a', 'b')),
    (err: unknown) => err instanceof PlantedLink && err.link === join(d, 'a') && /changed/.test(err.message),
  );
  // The folder itself a link: refused.
  symlinkSync(join(d, 'elsewhere', 'b'), join(d, 'c'));
  assert.throws(() => openUnfollowed(join(d, 'c')), /became a symbolic link/);
});

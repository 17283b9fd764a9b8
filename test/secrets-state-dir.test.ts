/**
 * The local secret store writes its key and sealed values only into a directory the store itself
 * would take as a state directory, and reads its file only as a regular file of this user's (walk AA:
 * `gatehouse secrets set` wrote root's key and secrets into a directory `nobody` owned, then the store
 * refused that directory; a link planted at the secrets file was followed). Run as root, the walk's
 * case: another user is `nobody` (65534); skipped otherwise, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalSecretStore, loadKey, storedNames } from '../src/credentials/local-store.ts';
import { ROOT } from './support/gateway.ts';

const CLI = join(ROOT, 'src/cli/main.ts');
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.NODE_TEST_CONTEXT;
  delete e.GATEHOUSE_SECRETS_KEY;
  return e;
}

/** `gatehouse secrets set NAME` with the state directory `state`, the value on standard input. */
function setSecret(dir: string, state: string, name: string) {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(config, `version: 1\ngateway:\n  stateDir: ${JSON.stringify(state)}\nservers: []\n`);
  return spawnSync(process.execPath, [CLI, 'secrets', 'set', name, '-c', config], {
    cwd: dir,
    encoding: 'utf8',
    env: env(),
    input: 'canary-value-not-shown',
  });
}

test('secrets set writes nothing into a state directory another user owns or can write', {
  skip: !asRoot && 'needs root (another user owns the directory)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-secrets-dir-'));
  try {
    chmodSync(dir, 0o755);
    const cases: Array<[string, () => string, RegExp]> = [
      [
        "nobody's, mode 777",
        () => {
          const d = join(dir, 'nobody-777');
          mkdirSync(d, { mode: 0o777 });
          chmodSync(d, 0o777);
          chownSync(d, NOBODY, NOBODY);
          return d;
        },
        /nobody-777 belongs to user 65534, not to the user running gatehouse \(0\)/,
      ],
      [
        "root's, mode 777",
        () => {
          const d = join(dir, 'root-777');
          mkdirSync(d);
          chmodSync(d, 0o777);
          return d;
        },
        /root-777 is writable by group or others \(mode 777\); chmod go-w it/,
      ],
      [
        "a link of nobody's to root's private directory",
        () => {
          const target = join(dir, 'root-private');
          mkdirSync(target, { mode: 0o700 });
          const link = join(dir, 'planted-link');
          symlinkSync(target, link);
          lchownSync(link, NOBODY, NOBODY);
          return link;
        },
        /planted-link is a symbolic link of user 65534, not of the user running gatehouse \(0\): whoever owns it can point it elsewhere/,
      ],
      [
        "root's private directory inside a folder of nobody's (walk CC: they could rename it away)",
        () => {
          const up = join(dir, 'nobody-folder');
          mkdirSync(up, { mode: 0o755 });
          chownSync(up, NOBODY, NOBODY);
          const d = join(up, 'state');
          mkdirSync(d, { mode: 0o700 });
          return d;
        },
        /state is inside .*nobody-folder, which belongs to user 65534: they can rename it and put one of theirs in its place/,
      ],
      [
        "root's private directory inside a folder others can write, without the sticky bit /tmp has",
        () => {
          const up = join(dir, 'open-folder');
          mkdirSync(up);
          chmodSync(up, 0o777);
          const d = join(up, 'state');
          mkdirSync(d, { mode: 0o700 });
          return d;
        },
        /state is inside .*open-folder, which group or others can write \(mode 777\): they can rename it/,
      ],
    ];
    for (const [what, make, why] of cases) {
      const state = make();
      const r = setSecret(dir, state, 'planted');
      assert.notEqual(r.status, 0, `${what}: refused`);
      assert.match(r.stderr, why, what);
      assert.doesNotMatch(r.stderr, /canary-value-not-shown|\n\s+at /, `${what}: no value, no stack`);
      assert.deepEqual(readdirSync(state), [], `${what}: neither key nor secrets written`);
    }
    // Root's own private directory, named directly: taken.
    const ok = setSecret(dir, join(dir, 'root-private'), 'fine');
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(existsSync(join(dir, 'root-private', 'secrets.enc.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the secrets file is read only as a regular file of its own: a planted link or a foreign file is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-secrets-file-'));
  try {
    const key = await loadKey({ keyFile: join(dir, 'secrets.key'), env: {} });
    const file = join(dir, 'secrets.enc.json');
    const store = new LocalSecretStore(file, key);
    await store.set('token', 'canary-1');
    assert.equal(await store.get('token'), 'canary-1');
    // Another store's file (say, a copy the attacker controls), put in place by a link.
    const elsewhere = join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, '{"version":1,"keyId":"x","entries":{}}\n', { mode: 0o600 });
    rmSync(file);
    symlinkSync(elsewhere, file);
    await assert.rejects(store.get('token'), /cannot read the secret store \(it is a symbolic link/);
    await assert.rejects(storedNames(file), /ELOOP|symbolic link/);
    rmSync(file);
    if (asRoot) {
      writeFileSync(file, '{"version":1,"keyId":"x","entries":{}}\n', { mode: 0o600 });
      chownSync(file, NOBODY, NOBODY);
      await assert.rejects(store.list(), /the secret store file .* belongs to user 65534/); // The key file: a link of nobody's to a key of root's is not followed (walk CC: it was checked
      // by path, then read by path, following the link).
      const rootKey = join(dir, 'root.key');
      writeFileSync(rootKey, `${Buffer.alloc(32, 9).toString('base64')}\n`, { mode: 0o600 });
      const planted = join(dir, 'planted.key');
      symlinkSync(rootKey, planted);
      lchownSync(planted, NOBODY, NOBODY);
      await assert.rejects(
        loadKey({ keyFile: planted, env: {} }),
        /key file .*planted\.key is a symbolic link of user 65534: whoever owns it can point it elsewhere/,
      );
      // Root's own link to it is followed (a key mounted elsewhere, linked in by its owner).
      const own = join(dir, 'own-link.key');
      symlinkSync(rootKey, own);
      assert.equal((await loadKey({ keyFile: own, env: {} })).length, 32);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

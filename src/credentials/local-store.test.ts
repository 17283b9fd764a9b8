// The embedded encrypted store (local-store.ts) and the local: provider, on real files in a temp dir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KEY_ENV,
  LocalSecretStore,
  generateKey,
  keyFileReloader,
  keyId,
  loadKey,
  parseKey,
  writeKeyFile,
} from './local-store.ts';
import { LocalProvider } from './local.ts';
import { SecretResolver } from './resolver.ts';
import type { CredentialError } from './types.ts';
import { expectCredentialError } from '../../test/support/credential-errors.ts';

const SECRET = 'CANARY-SECRET-local-0b5e';
const mode = async (p: string) => (await stat(p)).mode & 0o777;
const posix = process.platform !== 'win32';

const rejectsWith = (p: Promise<unknown>, code: string) => expectCredentialError(p, code, [SECRET]);

describe('local encrypted store', () => {
  let dir: string;
  let n = 0;
  const file = () => join(dir, `store-${++n}`, 'secrets.json');
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'gatehouse-secrets-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  test('round trip: set, get, list, overwrite, delete; nothing in clear on disk; file 0600', async () => {
    const f = file();
    const s = new LocalSecretStore(f, generateKey());
    await rejectsWith(s.get('github'), 'E_SECRET_NOT_FOUND');
    await s.set('github', SECRET);
    await s.set('db.password', 'pw-1');
    assert.equal(await s.get('github'), SECRET);
    await s.set('db.password', 'pw-2');
    assert.equal(await s.get('db.password'), 'pw-2');
    assert.deepEqual(
      (await s.list()).map((e) => e.name),
      ['db.password', 'github'],
    );
    const disk = await readFile(f, 'utf8');
    assert.ok(!disk.includes(SECRET) && !disk.includes('pw-2'));
    const doc = JSON.parse(disk);
    assert.equal(doc.version, 1);
    assert.equal(doc.keyId, s.keyId);
    assert.deepEqual(Object.keys(doc.entries.github).sort(), ['ciphertext', 'iv', 'tag', 'updatedAt']);
    if (posix) assert.equal(await mode(f), 0o600);
    assert.equal(await s.delete('db.password'), true);
    assert.equal(await s.delete('db.password'), false);
    await rejectsWith(s.get('db.password'), 'E_SECRET_NOT_FOUND');
    await rejectsWith(s.get('../etc/passwd'), 'E_REF_INVALID');
  });

  test('concurrent writes in one process are serialised (no lost update)', async () => {
    const s = new LocalSecretStore(file(), generateKey());
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.set(`k${i}`, `v${i}`)));
    assert.equal((await s.list()).length, 20);
    assert.equal(await s.get('k13'), 'v13');
  });

  test('a wrong key is refused (keyId), and GCM fails even when the keyId is forged', async () => {
    const f = file();
    await new LocalSecretStore(f, generateKey()).set('github', SECRET);
    const wrong = new LocalSecretStore(f, generateKey());
    const e = await rejectsWith(wrong.get('github'), 'E_PROVIDER_AUTH');
    assert.match(e.message, /not this store's key/);
    await rejectsWith(wrong.set('other', 'x'), 'E_PROVIDER_AUTH');
    const doc = JSON.parse(await readFile(f, 'utf8'));
    doc.keyId = wrong.keyId;
    await writeFile(f, JSON.stringify(doc));
    await rejectsWith(wrong.get('github'), 'E_PROVIDER_AUTH');
  });

  test('tampered ciphertext, tag or iv fails authentication', async () => {
    const f = file();
    const s = new LocalSecretStore(f, generateKey());
    await s.set('github', SECRET);
    const original = await readFile(f, 'utf8');
    for (const part of ['ciphertext', 'tag', 'iv'] as const) {
      const doc = JSON.parse(original);
      const bytes = Buffer.from(doc.entries.github[part], 'base64');
      bytes[0] ^= 1;
      doc.entries.github[part] = bytes.toString('base64');
      await writeFile(f, JSON.stringify(doc));
      const e = await rejectsWith(s.get('github'), 'E_PROVIDER_AUTH');
      assert.match(e.message, /failed authentication/, part);
    }
  });

  test('entries cannot be swapped: the name is the AAD', async () => {
    const f = file();
    const s = new LocalSecretStore(f, generateKey());
    await s.set('prod-token', SECRET);
    await s.set('dev-token', 'dev-value');
    const doc = JSON.parse(await readFile(f, 'utf8'));
    [doc.entries['prod-token'], doc.entries['dev-token']] = [doc.entries['dev-token'], doc.entries['prod-token']];
    await writeFile(f, JSON.stringify(doc));
    await rejectsWith(s.get('dev-token'), 'E_PROVIDER_AUTH');
    await rejectsWith(s.get('prod-token'), 'E_PROVIDER_AUTH');
  });

  test('rotateKey re-encrypts every entry, records the new keyId; the old key no longer decrypts', async () => {
    const f = file();
    const oldKey = generateKey();
    const s = new LocalSecretStore(f, oldKey);
    await s.set('a', SECRET);
    await s.set('b', 'value-b');
    const before = JSON.parse(await readFile(f, 'utf8'));
    const newKey = generateKey();
    await s.rotateKey(newKey);
    const afterDoc = JSON.parse(await readFile(f, 'utf8'));
    assert.equal(afterDoc.keyId, keyId(newKey));
    assert.notEqual(afterDoc.entries.a.ciphertext, before.entries.a.ciphertext);
    assert.equal(afterDoc.entries.a.updatedAt, before.entries.a.updatedAt, 'rotation is not an update of the value');
    assert.equal(await s.get('a'), SECRET, 'the same store object uses the new key');
    assert.equal(await new LocalSecretStore(f, newKey).get('b'), 'value-b');
    const old = new LocalSecretStore(f, oldKey);
    await rejectsWith(old.get('a'), 'E_PROVIDER_AUTH');
    afterDoc.keyId = keyId(oldKey); // forge the id: GCM still refuses
    await writeFile(f, JSON.stringify(afterDoc));
    await rejectsWith(old.get('a'), 'E_PROVIDER_AUTH');
    if (posix) assert.equal(await mode(f), 0o600);
  });

  test("a store held by a running gateway follows a rotation made by another process (the key file, or the .next written first); a key file that is not the store's is no key", async () => {
    const f = file();
    const kf = join(f, '..', 'secrets.key');
    const first = generateKey();
    await writeKeyFile(kf, first);
    const gateway = new LocalSecretStore(f, first, keyFileReloader(kf));
    await gateway.set('a', SECRET);
    // `gatehouse secrets rotate-key`: the new key aside, the store re-encrypted, then the key moved.
    const cli = new LocalSecretStore(f, first);
    const next = generateKey();
    await writeKeyFile(`${kf}.next`, next);
    await cli.rotateKey(next);
    assert.equal(await gateway.get('a'), SECRET, 'between the steps: the .next key');
    const third = generateKey();
    await writeKeyFile(`${kf}.next`, third);
    await cli.rotateKey(third);
    await writeKeyFile(kf, third);
    await rm(`${kf}.next`);
    assert.equal(await gateway.get('a'), SECRET, 'after: the key file');
    // Without a reloader (or with a key file that is not the store's), the old key is refused.
    await rejectsWith(new LocalSecretStore(f, first).get('a'), 'E_PROVIDER_AUTH');
    await writeKeyFile(kf, generateKey());
    await rejectsWith(new LocalSecretStore(f, first, keyFileReloader(kf)).get('a'), 'E_PROVIDER_AUTH');
  });

  test("a running gateway's store takes a rotated key only from a file of its own: another user's (even 0600) or a linked .next is no key", async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root, to give a file to another user');
    const f = file();
    const kf = join(f, '..', 'secrets.key');
    const first = generateKey();
    await writeKeyFile(kf, first);
    const gateway = new LocalSecretStore(f, first, keyFileReloader(kf));
    await gateway.set('a', SECRET);
    const planted = generateKey(); // written as rotate-key would, then given away (0600 kept)
    await writeKeyFile(`${kf}.next`, planted);
    await chown(`${kf}.next`, 65534, 65534);
    await new LocalSecretStore(f, first).rotateKey(planted); // the store now names the planted key
    await rejectsWith(gateway.get('a'), 'E_PROVIDER_AUTH');
    await rm(`${kf}.next`);
    await writeKeyFile(join(f, '..', 'mine.key'), planted); // this user's own, 0600, but linked in
    await symlink(join(f, '..', 'mine.key'), `${kf}.next`);
    await rejectsWith(new LocalSecretStore(f, first, keyFileReloader(kf)).get('a'), 'E_PROVIDER_AUTH');
    await rm(`${kf}.next`);
    await writeKeyFile(`${kf}.next`, planted); // the same key, as rotate-key writes it: taken
    assert.equal(await new LocalSecretStore(f, first, keyFileReloader(kf)).get('a'), SECRET);
  });

  test('rotation writes the file 0600 atomically (no temp files left behind)', async () => {
    const f = file();
    const s = new LocalSecretStore(f, generateKey());
    await s.set('a', 'x');
    if (posix) await chmod(f, 0o644);
    await s.rotateKey(generateKey());
    if (posix) assert.equal(await mode(f), 0o600, 'the rewrite restores 0600');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(join(f, '..')), ['secrets.json']);
  });

  test('key file: created with 32 random bytes (base64, 0600), reused, refused when others can read it', async () => {
    const kf = join(dir, 'keys', 'secrets.key');
    const k1 = await loadKey({ keyFile: kf, env: {} });
    assert.equal(k1.length, 32);
    if (posix) {
      assert.equal(await mode(kf), 0o600);
      assert.equal(await mode(join(dir, 'keys')), 0o700);
    }
    assert.deepEqual(await loadKey({ keyFile: kf, env: {} }), k1);
    assert.equal((await readFile(kf, 'utf8')).trim(), k1.toString('base64'));
    if (posix) {
      await chmod(kf, 0o640);
      await rejectsWith(loadKey({ keyFile: kf, env: {} }), 'E_PROVIDER_AUTH');
      await chmod(kf, 0o600);
    }
    const k2 = generateKey();
    await writeKeyFile(join(dir, 'keys', 'next.key'), k2);
    assert.deepEqual(await loadKey({ keyFile: join(dir, 'keys', 'next.key'), env: {} }), k2);
  });

  test(`${KEY_ENV} wins over the key file; malformed keys are refused without echoing them`, async () => {
    const k = generateKey();
    assert.deepEqual(await loadKey({ keyFile: join(dir, 'unused.key'), env: { [KEY_ENV]: k.toString('base64') } }), k);
    await assert.rejects(stat(join(dir, 'unused.key')), { code: 'ENOENT' });
    const short = Buffer.alloc(16, 7).toString('base64');
    assert.throws(
      () => parseKey(short),
      (e: CredentialError) => e.code === 'E_PROVIDER_AUTH' && !e.message.includes(short),
    );
    assert.throws(() => parseKey(`${k.toString('base64')}!!`), { code: 'E_PROVIDER_AUTH' });
  });

  test('local: provider through the resolver', async () => {
    const s = new LocalSecretStore(file(), generateKey());
    await s.set('acme-github', SECRET);
    const r = new SecretResolver({ providers: [new LocalProvider({ store: s })] });
    const v = await r.resolve('local:{tenant}-github', { context: { tenant: 'acme' } });
    assert.equal(v.value, SECRET);
    assert.ok(v.version, 'version = updatedAt');
    await rejectsWith(r.resolve('local:{tenant}-github', { context: { tenant: 'other' } }), 'E_SECRET_NOT_FOUND');
    await assert.rejects(r.resolve('local:acme-gitub'), {
      message: 'local:acme-gitub: no such local secret `acme-gitub` (fix: gatehouse secrets set acme-gitub)',
    });
  });
});

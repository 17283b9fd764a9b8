import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyFileWatch, SecretsKeys, watchKeyFile } from './key-watch.ts';
import { writeKeyFile } from './local-store.ts';
import { seal, unseal } from '../util/seal.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-key-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('SecretsKeys: the adopted key seals; the keys before it open (stale), at most three are held', async () => {
  const [a, b, c, d] = [0, 1, 2, 3].map(() => randomBytes(32));
  const keys = new SecretsKeys(a);
  const underA = seal(a, 'x', 'secret');
  assert.equal(keys.adopt(a), false, 'the current key already');
  assert.equal(keys.adopt(b), true);
  assert.equal(keys.current, b);
  assert.deepEqual(await keys.open((k) => unseal(k, 'x', underA)), { value: 'secret', stale: true });
  assert.deepEqual(await keys.open((k) => unseal(k, 'x', seal(b, 'x', 'new'))), { value: 'new', stale: false });
  keys.adopt(c);
  keys.adopt(d);
  assert.deepEqual(keys.all, [d, c, b]);
  await assert.rejects(
    keys.open((k) => unseal(k, 'x', underA)),
    'a key no longer held opens nothing',
  );
});

test('SecretsKeys: a value no held key opens is tried with the keys aside, unless told not to', async () => {
  const [a, b] = [randomBytes(32), randomBytes(32)];
  const keys = new SecretsKeys(a);
  let looked = 0;
  keys.lookAside = async () => {
    looked++;
    return [b];
  };
  const underB = seal(b, 'x', 'v');
  await assert.rejects(keys.open((k) => unseal(k, 'x', underB), false));
  assert.equal(looked, 0);
  assert.deepEqual(await keys.open((k) => unseal(k, 'x', underB)), { value: 'v', stale: false });
  assert.equal(keys.current, a, 'a key aside opens, it is not adopted');
  assert.deepEqual(await keys.open((k) => unseal(k, 'x', seal(a, 'x', 'w'))), { value: 'w', stale: false });
  assert.equal(looked, 1, 'not looked for what a held key opens');
});

test('KeyFileWatch: a new key file is adopted and told once; an unchanged one is not read; a readable one never', async () => {
  const file = join(dir, 'secrets.key');
  const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  await writeKeyFile(file, a);
  const keys = new SecretsKeys(a);
  const told: Buffer[] = [];
  const watch = new KeyFileWatch(file, keys, (k) => told.push(k));
  assert.equal(await watch.check(), false, 'the key it holds');
  await writeKeyFile(`${file}.next`, b);
  assert.equal(await watch.check(), false, 'a key beside the file is not adopted');
  assert.deepEqual(
    await keys.open((k) => unseal(k, 'x', seal(b, 'x', 'v'))),
    { value: 'v', stale: false },
    'but opens what it sealed',
  );
  await writeKeyFile(file, b);
  assert.equal(await watch.check(), true);
  assert.deepEqual(told, [b]);
  assert.deepEqual(keys.current, b);
  assert.equal(await watch.check(), false);
  await writeKeyFile(file, c);
  chmodSync(file, 0o644);
  assert.equal(await watch.check(), false, 'a key file others can read is not taken');
  assert.deepEqual(keys.current, b);
  assert.deepEqual(told, [b]);
});

test('watchKeyFile: none when the key comes from the environment', () => {
  const keys = new SecretsKeys(randomBytes(32));
  assert.equal(
    watchKeyFile(join(dir, 'k'), keys, () => {}, { GATEHOUSE_SECRETS_KEY: 'x' }),
    undefined,
  );
  assert.ok(watchKeyFile(join(dir, 'k'), keys, () => {}, {}));
});

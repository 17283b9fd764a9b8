/**
 * The secrets key rotation's own rules (key-rotation.ts), on a real embedded store: two processes
 * finishing one interrupted rotation at once, a row sealed under the old key while a pass runs, a new
 * key beside the key file that others could read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { UpstreamTokenStore } from '../storage/types.ts';
import { seal, unseal } from '../util/seal.ts';
import { withTempStore } from '../../test/support/temp-store.ts';
import { rotateSecretsKey } from './key-rotation.ts';
import { createKeyFile, generateKey, keyId, LocalSecretStore, writeKeyFile } from './local-store.ts';
import { SecretsKeys } from './key-watch.ts';
import { SharedSecretStore } from './shared-store.ts';

const aad = (tenant: string) => `remote\u0000${tenant}`;
const keyOf = (file: string) => Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');

/** A state directory whose key file is `old`, with a secret and `n` token sets sealed under it. */
async function state(dir: string, tokens: UpstreamTokenStore, n: number) {
  const keyFile = join(dir, 'secrets.key');
  const secretsFile = join(dir, 'secrets.enc.json');
  const old = generateKey();
  await writeKeyFile(keyFile, old);
  await new LocalSecretStore(secretsFile, old).set('s', 'v');
  for (let i = 0; i < n; i++) await tokens.put('remote', `t${i}`, seal(old, aad(`t${i}`), `{"i":${i}}`), i);
  return { keyFile, secretsFile, old };
}

test('two processes finishing the same interrupted rotation at once: both succeed, every row under the new key', async () => {
  await withTempStore(async (store, dir) => {
    const s = await state(dir, store.upstreamTokens, 50);
    const next = generateKey();
    assert.equal(await createKeyFile(`${s.keyFile}.next`, next), true);
    assert.equal(await createKeyFile(`${s.keyFile}.next`, generateKey()), false, 'never replaced while it exists');
    const parts = { keyFile: s.keyFile, secretsFile: s.secretsFile, tokens: store.upstreamTokens };
    const [a, b] = await Promise.all([rotateSecretsKey(parts, true), rotateSecretsKey(parts)]);
    for (const r of [a!, b!]) {
      assert.equal(r.keyId, keyId(next));
      assert.equal(r.resumed?.keyId, keyId(next), 'the run without resumeOnly finished it too, with no key of its own');
    }
    assert.ok(a!.upstreamTokens + b!.upstreamTokens >= 50, 'each row re-sealed by one of them (or both)');
    assert.ok(keyOf(s.keyFile).equals(next));
    assert.ok(!existsSync(`${s.keyFile}.next`));
    for (const r of await store.upstreamTokens.list()) {
      const sealed = (await store.upstreamTokens.get(r.server, r.tenant))!;
      assert.doesNotThrow(() => unseal(next, aad(r.tenant), sealed));
    }
    assert.equal(await new LocalSecretStore(s.secretsFile, next).get('s'), 'v');
    // Nothing left to finish: a resume-only run (a gateway start) does nothing.
    assert.equal(await rotateSecretsKey(parts, true), undefined);
  });
});

test('a token set sealed under the old key during a pass (a gateway refreshing it) is re-sealed before the old key goes', async () => {
  await withTempStore(async (store, dir) => {
    const s = await state(dir, store.upstreamTokens, 3);
    let lists = 0;
    // The real store; a refresh under the old key lands right after the first pass has read the rows.
    // (One landing after the last pass read them is re-sealed by the gateway that wrote it, which
    // holds the old key until it has: key-watch.ts.)
    const tokens: UpstreamTokenStore = {
      ...store.upstreamTokens,
      list: async () => {
        const rows = await store.upstreamTokens.list();
        if (++lists === 1) await store.upstreamTokens.put('remote', 'late', seal(s.old, aad('late'), '{"late":1}'), 9);
        return rows;
      },
    };
    const r = (await rotateSecretsKey({ keyFile: s.keyFile, secretsFile: s.secretsFile, tokens }))!;
    assert.equal(r.upstreamTokens, 4);
    assert.ok(lists >= 3, 'a last pass found none under the old key');
    const next = keyOf(s.keyFile);
    assert.equal(unseal(next, aad('late'), (await store.upstreamTokens.get('remote', 'late'))!), '{"late":1}');
  });
});

test('a new key beside the key file that group or others can read is refused, saying so, and nothing is moved', async () => {
  await withTempStore(async (store, dir) => {
    const s = await state(dir, store.upstreamTokens, 1);
    await createKeyFile(`${s.keyFile}.next`, generateKey());
    chmodSync(`${s.keyFile}.next`, 0o644);
    await assert.rejects(
      rotateSecretsKey({ keyFile: s.keyFile, secretsFile: s.secretsFile, tokens: store.upstreamTokens }),
      /the new key of an interrupted rotation, .*secrets\.key\.next is accessible by group or others \(mode 644\); chmod 600 it/,
    );
    assert.ok(keyOf(s.keyFile).equals(s.old), 'the key file is left as it was');
    assert.equal(await new LocalSecretStore(s.secretsFile, s.old).get('s'), 'v');
  });
});

test('a .next that is a symbolic link (dangling or to a private key) or not a regular file is refused by name, at once; nothing is written', async () => {
  await withTempStore(async (store, dir) => {
    const s = await state(dir, store.upstreamTokens, 1);
    const next = `${s.keyFile}.next`;
    const parts = { keyFile: s.keyFile, secretsFile: s.secretsFile, tokens: store.upstreamTokens };
    const elsewhere = join(dir, 'elsewhere.key');
    await createKeyFile(elsewhere, generateKey()); // a private key of this user's: still not followed
    for (const [make, is] of [
      [() => symlinkSync(join(dir, 'nonexistent'), next), 'a symbolic link'],
      [() => symlinkSync(elsewhere, next), 'a symbolic link'],
      [() => mkdirSync(next), 'not a regular file'],
    ] as const) {
      make();
      const started = Date.now();
      for (const resumeOnly of [false, true])
        await assert.rejects(
          rotateSecretsKey(parts, resumeOnly),
          new RegExp(`the new key of an interrupted rotation, .*secrets\\.key\\.next is ${is}; .*remove it`),
        );
      assert.ok(Date.now() - started < 2_000, 'refused at once, not after rounds of new keys');
      assert.ok(keyOf(s.keyFile).equals(s.old), 'the key file is left as it was');
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.includes('.tmp-')),
        [],
        'no new key written aside',
      );
      rmSync(next, { recursive: true });
    }
    assert.ok(existsSync(elsewhere), 'the file a link named is left alone');
    assert.equal(await new LocalSecretStore(s.secretsFile, s.old).get('s'), 'v');
  });
});

test('with the secrets in the database (PostgreSQL, ADR 0016), rotate-key re-seals their rows too: they open with the new key alone', async () => {
  await withTempStore(async (store, dir) => {
    const s = await state(dir, store.upstreamTokens, 1);
    await new SharedSecretStore(store.localSecrets, new SecretsKeys(s.old)).set('db-secret', 'db-value');
    const r = (await rotateSecretsKey({
      keyFile: s.keyFile,
      secretsFile: s.secretsFile,
      tokens: store.upstreamTokens,
      secrets: store.localSecrets,
    }))!;
    assert.equal(r.secrets, 2, 'the file one and the database one');
    const next = keyOf(s.keyFile);
    const alone = new SharedSecretStore(store.localSecrets, new SecretsKeys(next));
    assert.equal((await alone.getEntry('db-secret')).value, 'db-value');
    assert.equal((await store.localSecrets.get('db-secret'))?.keyId, keyId(next));
  });
});

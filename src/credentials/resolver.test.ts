// SecretResolver with a scripted provider (cache, sharing, purge, abort) and the env: provider.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretResolver } from './resolver.ts';
import { EnvProvider } from './env.ts';
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';

/** A provider whose answers the test releases by hand. */
class Scripted implements SecretProvider {
  readonly scheme = 'fake';
  calls: string[] = [];
  waiting: { ref: ParsedRef; resolve: (v: SecretValue) => void; reject: (e: unknown) => void }[] = [];
  closed = false;
  ttl = 1_000;
  clock: () => number;
  constructor(clock: () => number) {
    this.clock = clock;
  }
  resolve(ref: ParsedRef): Promise<SecretValue> {
    this.calls.push(ref.raw);
    return new Promise((resolve, reject) => this.waiting.push({ ref, resolve, reject }));
  }
  release(value: string): void {
    const now = this.clock();
    for (const w of this.waiting.splice(0))
      w.resolve({ value: `${value}:${w.ref.path}`, fetchedAt: now, expiresAt: now + this.ttl });
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('SecretResolver', () => {
  test('concurrent resolves share one call; the value is cached until expiresAt', async () => {
    let clock = 0;
    const p = new Scripted(() => clock);
    const r = new SecretResolver({ providers: [p], now: () => clock });
    const all = Promise.all([r.resolve('fake://a'), r.resolve('fake://a'), r.resolve('fake://b')]);
    await tick();
    assert.deepEqual(p.calls, ['fake://a', 'fake://b']);
    p.release('v1');
    assert.deepEqual(
      (await all).map((v) => v.value),
      ['v1:a', 'v1:a', 'v1:b'],
    );
    assert.equal((await r.resolve('fake://a')).value, 'v1:a');
    assert.equal(p.calls.length, 2);
    clock = 1_000;
    const again = r.resolve('fake://a');
    await tick();
    assert.equal(p.calls.length, 3, 'expired: fetched again');
    p.release('v2');
    assert.equal((await again).value, 'v2:a');
    assert.deepEqual(r.cachedReferences().sort(), ['fake://a', 'fake://b']);
  });

  test('the cache key is the expanded reference: tenants never share an entry', async () => {
    const p = new Scripted(() => 0);
    const r = new SecretResolver({ providers: [p], now: () => 0 });
    const a = r.resolve('fake://x/{tenant}', { context: { tenant: 'acme' } });
    const b = r.resolve('fake://x/{tenant}', { context: { tenant: 'globex' } });
    await tick();
    p.release('v');
    assert.deepEqual([(await a).value, (await b).value], ['v:x/acme', 'v:x/globex']);
    await assert.rejects(r.resolve('fake://x/{tenant}'), { code: 'E_REF_INVALID' }, 'placeholders without a context');
    await assert.rejects(r.resolve('fake://x/{tenant}', { context: { tenant: '../acme' } }), { code: 'E_REF_INVALID' });
  });

  test('errors are not cached; purge(ref), purge(predicate), purge() drop entries', async () => {
    const p = new Scripted(() => 0);
    const r = new SecretResolver({ providers: [p], now: () => 0 });
    const failing = r.resolve('fake://e');
    await tick();
    p.waiting.splice(0)[0].reject(new CredentialError('E_PROVIDER_UNAVAILABLE', 'down'));
    await assert.rejects(failing, { code: 'E_PROVIDER_UNAVAILABLE' });
    const retry = r.resolve('fake://e');
    await tick();
    assert.equal(p.calls.length, 2, 'a failure is retried on the next resolve');
    p.release('ok');
    await retry;
    for (const k of ['fake://t/a/1', 'fake://t/a/2', 'fake://t/b/1']) {
      const v = r.resolve(k);
      await tick();
      p.release('v');
      await v;
    }
    r.purge('fake://e');
    r.purge((k) => k.startsWith('fake://t/a/'));
    assert.deepEqual(r.cachedReferences(), ['fake://t/b/1']);
    r.purge();
    assert.deepEqual(r.cachedReferences(), []);
  });

  test('a purge during a fetch: the old fetch still answers its callers but is not cached', async () => {
    const p = new Scripted(() => 0);
    const r = new SecretResolver({ providers: [p], now: () => 0 });
    const old = r.resolve('fake://k');
    await tick();
    r.purge('fake://k');
    const fresh = r.resolve('fake://k');
    await tick();
    assert.equal(p.calls.length, 2, 'after a purge a new fetch starts');
    const [first, second] = p.waiting.splice(0);
    second.resolve({ value: 'new', fetchedAt: 0, expiresAt: 10 });
    first.resolve({ value: 'old', fetchedAt: 0, expiresAt: 10 });
    assert.equal((await old).value, 'old');
    assert.equal((await fresh).value, 'new');
    assert.equal((await r.resolve('fake://k')).value, 'new', 'the purged fetch did not overwrite the cache');
  });

  test("a caller's abort ends its wait only; the shared fetch completes for the others", async () => {
    const p = new Scripted(() => 0);
    const r = new SecretResolver({ providers: [p], now: () => 0 });
    const ac = new AbortController();
    const a = r.resolve('fake://s', { signal: ac.signal });
    const b = r.resolve('fake://s');
    await tick();
    ac.abort(new Error('caller went away'));
    await assert.rejects(a, /caller went away/);
    p.release('v');
    assert.equal((await b).value, 'v:s');
    assert.equal(p.calls.length, 1);
  });

  test('unknown scheme, duplicate registration, maxEntries, close()', async () => {
    const p = new Scripted(() => 0);
    const r = new SecretResolver({ providers: [p], maxEntries: 2, now: () => 0 });
    await assert.rejects(
      r.resolve('vault://secret/x#y'),
      (e: CredentialError) => e.code === 'E_REF_INVALID' && /no provider for vault:/.test(e.message),
    );
    assert.throws(() => r.register(new Scripted(() => 0)), /already registered/);
    for (const k of ['fake://1', 'fake://2', 'fake://3']) {
      const v = r.resolve(k);
      await tick();
      p.release('v');
      await v;
    }
    assert.deepEqual(r.cachedReferences(), ['fake://2', 'fake://3'], 'the oldest entry is dropped');
    await r.close();
    assert.equal(p.closed, true);
    assert.deepEqual(r.cachedReferences(), []);
  });

  test('env: provider', async () => {
    const r = new SecretResolver({ providers: [new EnvProvider({ env: { GH_TOKEN: 'CANARY-env', EMPTY: '' } })] });
    assert.equal((await r.resolve('env:GH_TOKEN')).value, 'CANARY-env');
    await assert.rejects(r.resolve('env:EMPTY'), { code: 'E_SECRET_NOT_FOUND' });
    // The reference names its provider once, and the message says what to do (walk R: `env: env:X: ...`).
    await assert.rejects(r.resolve('env:MISSING'), {
      code: 'E_SECRET_NOT_FOUND',
      message:
        "env:MISSING: the environment variable `MISSING` is not set (fix: set MISSING in the gateway's environment)",
    });
    await assert.rejects(r.resolve('env:toString'), { code: 'E_SECRET_NOT_FOUND' }, 'no prototype lookups');
    process.env.GATEHOUSE_TEST_ENV_PROVIDER = 'from-process';
    try {
      assert.equal(
        (
          await new EnvProvider().resolve({
            scheme: 'env',
            path: 'GATEHOUSE_TEST_ENV_PROVIDER',
            raw: 'env:GATEHOUSE_TEST_ENV_PROVIDER',
          })
        ).value,
        'from-process',
      );
    } finally {
      delete process.env.GATEHOUSE_TEST_ENV_PROVIDER;
    }
  });
});

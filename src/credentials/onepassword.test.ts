// 1Password Connect provider against a fake Connect server (test/fixtures/secrets/onepassword-server.ts).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OnePasswordProvider } from './onepassword.ts';
import type { OnePasswordOptions } from './onepassword.ts';
import { SecretResolver } from './resolver.ts';
import { parseReference } from './types.ts';
import { startOnePasswordServer } from '../../test/fixtures/secrets/onepassword-server.ts';
import type { OnePasswordServer } from '../../test/fixtures/secrets/onepassword-server.ts';
import { serve } from '../../test/fixtures/secrets/http.ts';
import { expectCredentialError } from '../../test/support/credential-errors.ts';

const TOKEN = 'CANARY-OP-CONNECT-TOKEN-eyJhbGciOiJFUzI1NiJ9';
const SECRET = 'CANARY-SECRET-op-4a2c';

const rejectsWith = (p: Promise<unknown>, code: string) => expectCredentialError(p, code, [TOKEN, SECRET]);

describe('1password connect provider', () => {
  let op: OnePasswordServer;
  let ids: { vaultId: string; itemId: string };
  const provider = (o: Partial<OnePasswordOptions> = {}) =>
    new OnePasswordProvider({ host: op.url, token: TOKEN, ...o });
  const resolve = (p: OnePasswordProvider, ref: string) => p.resolve(parseReference(ref));

  before(async () => {
    op = await startOnePasswordServer({ token: TOKEN });
    ids = op.setSecret('Infra', 'GitHub Bot', [
      { id: 'username', label: 'username', value: 'bot', purpose: 'USERNAME' },
      { id: 'x7k2m', label: 'token', value: SECRET, type: 'CONCEALED' },
      { id: 'empty', label: 'notes' },
    ]);
    op.setSecret('Infra', 'Twin', [{ id: 'a', label: 'token', value: 'one' }]);
    op.setSecret('Other', 'Twin', [{ id: 'a', label: 'token', value: 'two' }]);
  });
  after(() => op.close());
  beforeEach(() => (op.requests.length = 0));

  test('vault by name, item by title, field by label: three Connect calls with bearer auth', async () => {
    const v = await resolve(provider(), 'op://Infra/GitHub Bot/token');
    assert.equal(v.value, SECRET);
    assert.equal(v.version, '1');
    assert.deepEqual(
      op.requests.map((r) => r.path),
      [
        `/v1/vaults?filter=${encodeURIComponent('name eq "Infra"')}`,
        `/v1/vaults/${ids.vaultId}/items?filter=${encodeURIComponent('title eq "GitHub Bot"')}`,
        `/v1/vaults/${ids.vaultId}/items/${ids.itemId}`,
      ],
    );
    assert.equal((await resolve(provider(), 'op://Infra/GitHub Bot/x7k2m')).value, SECRET, 'field by id');
    assert.equal((await resolve(provider(), 'op://Other/Twin/token')).value, 'two', 'same title in another vault');
    assert.equal(
      (await resolve(provider(), `op://${ids.vaultId}/${ids.itemId}/token`)).value,
      SECRET,
      'Connect ids work too',
    );
  });

  test('missing vault, item or field (or a field without value): E_SECRET_NOT_FOUND', async () => {
    await rejectsWith(resolve(provider(), 'op://Nope/GitHub Bot/token'), 'E_SECRET_NOT_FOUND');
    await rejectsWith(resolve(provider(), 'op://Infra/Nope/token'), 'E_SECRET_NOT_FOUND');
    await rejectsWith(resolve(provider(), 'op://Infra/GitHub Bot/password'), 'E_SECRET_NOT_FOUND');
    await rejectsWith(resolve(provider(), 'op://Infra/GitHub Bot/notes'), 'E_SECRET_NOT_FOUND');
  });

  test('a wrong Connect token: E_PROVIDER_AUTH (HTTP 401), token not in the message', async () => {
    const e = await rejectsWith(
      resolve(provider({ token: `${TOKEN}x` }), 'op://Infra/GitHub Bot/token'),
      'E_PROVIDER_AUTH',
    );
    assert.match(e.message, /HTTP 401/);
  });

  test('quotes in names are refused before any request (no filter injection)', async () => {
    assert.throws(() => parseReference('op://Infra/x" or title eq "GitHub Bot/token'), { code: 'E_REF_INVALID' });
  });

  test('server down: E_PROVIDER_UNAVAILABLE', async () => {
    const gone = await serve((_q, res) => void res.end());
    await gone.close();
    await rejectsWith(resolve(provider({ host: gone.url }), 'op://Infra/GitHub Bot/token'), 'E_PROVIDER_UNAVAILABLE');
  });

  test('through the resolver: TTL, rotation after TTL, concurrent resolves share one fetch', async () => {
    let clock = 0;
    const r = new SecretResolver({ providers: [provider({ cacheTtlMs: 1_000, now: () => clock })], now: () => clock });
    const ref = 'op://Infra/GitHub Bot/token';
    await Promise.all([r.resolve(ref), r.resolve(ref), r.resolve(ref)]);
    assert.equal(op.requests.length, 3, 'one resolution = three Connect calls, shared by three callers');
    op.setSecret('Infra', 'GitHub Bot', [{ id: 'x7k2m', label: 'token', value: 'rotated' }]);
    clock = 999;
    assert.equal((await r.resolve(ref)).value, SECRET);
    assert.equal(op.requests.length, 3);
    clock = 1_000;
    const v = await r.resolve(ref);
    assert.deepEqual([v.value, v.version], ['rotated', '2']);
    assert.equal(op.requests.length, 6);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '../config/schema.ts';
import type { ApiKeyRecord, ModeRecord, Store } from '../storage/types.ts';
import type { Principal } from '../identity/principal.ts';
import {
  clearMode,
  createKey,
  modeScope,
  revokeKey,
  setMode,
  visibleKeys,
  visibleModes,
  type Actor,
} from './actions.ts';

function fakeStore() {
  const modes: ModeRecord[] = [];
  const keys: ApiKeyRecord[] = [];
  const store = {
    modes: {
      list: async () => [...modes],
      set: async (r: ModeRecord) => {
        modes.splice(0, modes.length, ...modes.filter((m) => m.scope !== r.scope));
        modes.push(r);
      },
      clear: async (scope: string) => {
        const i = modes.findIndex((m) => m.scope === scope);
        if (i >= 0) modes.splice(i, 1);
        return i >= 0;
      },
    },
    apiKeys: {
      list: async () => [...keys],
      get: async (id: string) => keys.find((k) => k.id === id),
      create: async (r: ApiKeyRecord) => void keys.push(r),
      revoke: async (id: string, by: string, at: number) => {
        const k = keys.find((x) => x.id === id || x.name === id);
        if (k && k.revokedAt === null) Object.assign(k, { revokedAt: at, revokedBy: by });
        return k;
      },
    },
  };
  return { store: store as unknown as Store, modes, keys };
}

const config = {
  identity: {
    platformAdminRoles: ['platform-admin'],
    requiredScopes: { mcp: ['mcp:tools'] },
    issuers: [{ tenants: ['t1', 't2'] }],
  },
  gateway: { namespaceSeparator: '__' },
  servers: [],
} as unknown as Config;
const principal = (subject: string, tenant: string, roles: string[]): Principal => ({
  subject,
  tenant,
  roles,
  client: 'c',
  scopes: [],
  authenticated: true,
  via: 'jwt',
  issuer: 'i',
  key: `${subject}@${tenant}`,
});
const alice: Actor = {
  principal: { ...principal('alice', 't1', ['admin']), scopes: ['mcp:tools'] },
  scope: { platform: false, tenant: 't1' },
};
const root: Actor = { principal: principal('root', 'ops', ['platform-admin']), scope: { platform: true } };

function deps() {
  const f = fakeStore();
  const records: unknown[] = [];
  return { ...f, records, d: { config, store: f.store, record: async (i: unknown) => void records.push(i) } };
}

test('modes: a tenant admin switches its own tenant only, only stricter, and never what a platform admin set', async () => {
  const { d, modes, records } = deps();
  assert.deepEqual(modeScope(alice, 'tenant', 't2'), { error: 'your admin role covers tenant `t1` only' });
  assert.deepEqual(modeScope(alice, 'gateway', ''), { error: 'switching the gateway needs a platform admin' });
  assert.deepEqual(modeScope(alice, 'tool', 's__x'), { error: 'your admin role covers tenant `t1` only' });
  assert.equal((await setMode(d, alice, 'enforce', 'tenant', 't1', 'lift')).ok, false);
  assert.equal((await setMode(d, alice, 'read_only', 'tenant', 't1', '')).ok, false, 'a reason is required');
  assert.equal((await setMode(d, alice, 'read_only', 'tenant', 't1', 'freeze')).ok, true);
  assert.equal(modes[0].setBy, 'alice@t1 (tenant admin)');
  assert.equal((await clearMode(d, alice, 'tenant:t1')).ok, true);
  // A name an operator wrote at the CLI (`--by oncall@t1`) is the operator's, not the tenant's.
  modes.push({ scope: 'tenant:t1', mode: 'disabled', reason: 'r', setBy: 'oncall@t1', setAt: 1 });
  assert.equal((await clearMode(d, alice, 'tenant:t1')).ok, false);
  assert.equal((await clearMode(d, root, 'tenant:t1')).ok, true);
  assert.equal((await setMode(d, root, 'disabled', 'tenant', 't1', 'incident')).ok, true);
  assert.equal(modes[0].setBy, 'root@ops (platform admin)');
  assert.equal((await clearMode(d, alice, 'tenant:t1')).ok, false);
  assert.equal((await setMode(d, alice, 'shadow', 'tenant', 't1', 'replace')).ok, false);
  assert.equal(modes[0].mode, 'disabled');
  assert.equal((await setMode(d, root, 'disabled', 'tenant', 't2', 'x')).ok, true);
  assert.deepEqual(
    visibleModes(alice, modes).map((m) => m.scope),
    ['tenant:t1'],
  );
  assert.ok(records.every((r) => (r as { detail: { via: string } }).detail.via === 'console'));
});

test("keys: a tenant admin cannot tell another tenant's key name from its own, and gives keys at most 366 days", async () => {
  const { d, keys } = deps();
  const form = (o: Record<string, string>) => new URLSearchParams({ expires: '30d', ...o });
  assert.equal((await createKey(d, root, form({ name: 'globex-bot', tenant: 't2' }))).ok, true);
  assert.equal((await createKey(d, alice, form({ name: 'acme-bot' }))).ok, true);
  const theirs = await createKey(d, alice, form({ name: 'globex-bot' }));
  const mine = await createKey(d, alice, form({ name: 'acme-bot' }));
  assert.equal(theirs.ok, false);
  assert.deepEqual(
    theirs.message.replace('globex-bot', 'X'),
    mine.message.replace('acme-bot', 'X'),
    "another tenant's key name answers as its own does",
  );
  assert.match(theirs.message, /is taken \(key names are shared by every tenant of the gateway\): choose another name/);
  assert.doesNotMatch(theirs.message, /t2|exists/);
  // The platform admin still hears which key exists.
  assert.match(
    (await createKey(d, root, form({ name: 'acme-bot', tenant: 't1' }))).message,
    /a key named `acme-bot` exists/,
  );

  for (const expires of ['999999d', '367d', '8809h']) {
    const r = await createKey(d, alice, form({ name: `long-${expires}`, expires }));
    assert.equal(r.ok, false, expires);
    assert.equal(r.message, `a tenant admin makes keys that expire within 366 days: not \`${expires}\``);
  }
  assert.equal((await createKey(d, alice, form({ name: 'a-year', expires: '366d' }))).ok, true);
  assert.equal((await createKey(d, root, form({ name: 'ops-long', tenant: 't2', expires: '999999d' }))).ok, true);
  assert.deepEqual(
    keys.map((k) => k.name),
    ['globex-bot', 'acme-bot', 'a-year', 'ops-long'],
  );
});

test("keys: a person's subject never reads as a service key's, whatever its case or spaces; it is stored trimmed (walk S, F7)", async () => {
  const { d, keys } = deps();
  const form = (o: Record<string, string>) => new URLSearchParams({ tenant: 't1', expires: '30d', ...o });
  for (const person of [' apikey:svc', 'APIKEY:svc', 'apikey:svc', '\u3000Apikey:svc', '\u200bapikey:svc']) {
    const r = await createKey(d, root, form({ name: 'k', person }));
    assert.equal(r.ok, false, JSON.stringify(person));
    assert.match(r.message, /^the person (is written like a service key's subject|contains control or invisible)/);
  }
  assert.equal(
    (await createKey(d, root, form({ name: 'k', person: 'anonymous' }))).message.includes('without a credential'),
    true,
  );
  assert.equal(keys.length, 0);
  assert.equal((await createKey(d, root, form({ name: 'k', person: '  carol  ' }))).ok, true);
  assert.equal((await createKey(d, root, form({ name: 'svc', person: '   ' }))).ok, true, 'blank: a service key');
  assert.deepEqual(
    keys.map((k) => k.subject),
    ['carol', null],
  );
});

test('keys: a tenant admin makes keys of its tenant, no stronger than itself; sees and revokes its tenant only', async () => {
  const { d, keys } = deps();
  const form = (o: Record<string, string>) => new URLSearchParams({ name: 'k', tenant: 't2', expires: '30d', ...o });
  const made = await createKey(d, alice, form({}));
  assert.equal(made.ok, true);
  assert.equal(keys[0].tenant, 't1', 'its own tenant, whatever the form says');
  assert.deepEqual(keys[0].scopes, ['mcp:tools']);
  assert.equal(keys[0].subject, null);
  for (const [o, why] of [
    [{ name: 'a', roles: 'platform-admin' }, /platform admin role/],
    [{ name: 'b', person: 'carol' }, /act for nobody/],
    [{ name: 'c', roles: 'lead' }, /not `lead`/],
    [{ name: 'e', scopes: 'mcp:tools mcp:admin' }, /scopes it holds: not `mcp:admin`/],
    [{ name: 'd', expires: 'never' }, /expire/],
    [{ name: 'k' }, /is taken/],
  ] as const) {
    const r = await createKey(d, alice, form(o));
    assert.equal(r.ok, false, JSON.stringify(o));
    assert.match(r.message, why);
  }
  assert.equal(
    (await createKey(d, alice, form({ name: 'mine', person: 'alice', roles: 'admin', scopes: 'mcp:tools' }))).ok,
    true,
  );
  // With several issuers, alice's token says whose `alice` she is; a key's person would not.
  const several = { ...d, config: { ...config, identity: { ...config.identity, issuers: [{}, {}] } } as Config };
  const cross = await createKey(several, alice, form({ name: 'cross', person: 'alice', scopes: 'mcp:tools' }));
  assert.match(cross.message, /identity names 2 issuers, so a key's person `alice` would not say whose/);
  const keyAdmin = { ...alice, principal: { ...alice.principal, via: 'api-key', issuer: 'gatehouse' } } as Actor;
  assert.equal(
    (await createKey(several, keyAdmin, form({ name: 'k2', person: 'alice' }))).ok,
    true,
    'a key admin is `gatehouse`’s alice already',
  );
  assert.equal((await createKey(several, root, form({ name: 'k3', person: 'alice' }))).ok, true);
  keys.splice(
    keys.findIndex((k) => k.name === 'k2'),
    1,
  );
  keys.splice(
    keys.findIndex((k) => k.name === 'k3'),
    1,
  );
  assert.equal((await createKey(d, root, form({ name: 'other', roles: 'platform-admin' }))).ok, true);
  assert.equal((await createKey(d, root, form({ name: 'plat', tenant: 't1', roles: 'platform-admin' }))).ok, true);
  assert.deepEqual(
    visibleKeys(alice, keys).map((k) => k.name),
    ['k', 'mine', 'plat'],
  );
  const other = keys.find((k) => k.name === 'other')!;
  assert.deepEqual(await revokeKey(d, alice, other.id), { ok: false, message: 'no such key' });
  assert.match(
    (await revokeKey(d, alice, keys.find((k) => k.name === 'plat')!.id)).message,
    /only a platform admin revokes it/,
  );
  assert.equal((await revokeKey(d, alice, keys[0].id)).ok, true);
  assert.equal(keys[0].revokedBy, 'alice@t1');
  assert.equal(other.revokedAt, null);
});

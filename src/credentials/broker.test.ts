/**
 * The broker following the store (a real SQLite store): a revocation is applied and acknowledged,
 * and applied and acknowledged again when the reference is revoked again; gateways gone for an hour
 * are forgotten at start and then at most once a minute, and a failure there never stops it from
 * following revocations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../observability/logger.ts';
import { openStore } from '../storage/index.ts';
import type { Store } from '../storage/types.ts';
import { CredentialBroker, connectionOwner, discoveryTenant, ownerOf, serversUsing, variesByOwner } from './broker.ts';
import { SecretResolver } from './resolver.ts';
import type { ServerConfig } from '../config/schema.ts';

const REF = 'vault://secret/x#y';

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-broker-'));
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(dir, 'g.db') });
  try {
    await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const ackers = async (store: Store) => (await store.revocations.acks(REF)).map((a) => a.instance);

test('a revocation is acknowledged; revoked again (acknowledgements reset), it is applied and acknowledged again', async () => {
  await withStore(async (store) => {
    const broker = new CredentialBroker(new SecretResolver(), store.revocations, silentLogger(), 'gw-1');
    const stopped: string[] = [];
    broker.onRevoked = async (ref) => void stopped.push(ref);
    await store.revocations.revoke({ ref: REF, reason: 'leak', revokedBy: 'op', revokedAt: 1000 });
    await broker.follow();
    assert.deepEqual(await ackers(store), ['gw-1']);
    assert.equal(broker.isRevoked([REF]), true);
    await broker.follow();
    assert.deepEqual(stopped, [REF], 'applied once');
    await store.revocations.revoke({ ref: REF, reason: 'leaked again', revokedBy: 'op', revokedAt: 2000 });
    assert.deepEqual(await ackers(store), [], 'a new revocation waits for every gateway again');
    await broker.follow();
    assert.deepEqual(await ackers(store), ['gw-1'], 'and this gateway confirms it');
    assert.deepEqual(stopped, [REF, REF]);
    assert.equal(await store.revocations.restore(REF), true);
    await broker.follow();
    assert.equal(broker.isRevoked([REF]), false, 'restored');
  });
});

test('gateways gone for an hour are forgotten at the first follow, then at most once a minute', async (t) => {
  await withStore(async (store) => {
    const start = 1_760_000_000_000;
    const real = Date.now(); // the store's clock (the machine's): what heartbeats are read against
    t.mock.timers.enable({ apis: ['Date'], now: start });
    const forgotten: number[] = [];
    const revocations = Object.create(store.revocations) as Store['revocations'];
    revocations.forgetStale = async (olderThanMs) => {
      forgotten.push(olderThanMs);
      return store.revocations.forgetStale(olderThanMs);
    };
    await store.revocations.heartbeat('gw-old', start - 7_200_000, real - 3_600_001);
    const broker = new CredentialBroker(new SecretResolver(), revocations, silentLogger(), 'gw-1');
    await broker.follow();
    assert.deepEqual(forgotten, [3_600_000]);
    assert.deepEqual(await store.revocations.live(7_200_000), ['gw-1'], 'the gateway gone for an hour is forgotten');
    t.mock.timers.tick(59_999);
    await broker.follow();
    assert.equal(forgotten.length, 1);
    t.mock.timers.tick(1);
    await broker.follow();
    assert.deepEqual(forgotten, [3_600_000, 3_600_000], "an hour by the store's clock, once a minute by the gateway's");
  });
});

test('a failed housekeeping does not stop the broker following revocations', async () => {
  await withStore(async (store) => {
    const revocations = Object.create(store.revocations) as Store['revocations'];
    revocations.forgetStale = async () => {
      throw new Error('store busy');
    };
    await store.revocations.revoke({ ref: REF, reason: 'leak', revokedBy: 'op', revokedAt: 1000 });
    const broker = new CredentialBroker(new SecretResolver(), revocations, silentLogger(), 'gw-1');
    await broker.follow();
    assert.deepEqual(await ackers(store), ['gw-1']);
    assert.equal(broker.isRevoked([REF]), true);
  });
});

test("a server's connections differ by owner when a reference names {tenant} or each owner authorizes the upstream", () => {
  const stdio = (credentials?: object) => ({ name: 's', transport: 'stdio', command: 'x', credentials }) as never;
  const http = (extra: object) => ({ name: 'h', transport: 'http', url: 'https://h.test/mcp', ...extra }) as never;
  assert.equal(variesByOwner(stdio()), false);
  assert.equal(variesByOwner(stdio({ env: { TOKEN: 'vault://kv/shared#token' } })), false);
  assert.equal(variesByOwner(stdio({ env: { TOKEN: 'vault://kv/{env}/token#v' } })), false);
  assert.equal(variesByOwner(stdio({ env: { TOKEN: 'vault://kv/{tenant}/token#v' } })), true);
  assert.equal(variesByOwner(http({ credentials: { headers: { 'X-Key': 'local:{tenant}-key' } } })), true);
  assert.equal(
    variesByOwner(
      http({ credentials: { headers: { Authorization: { ref: 'op://v/{tenant}/t', prefix: 'Bearer ' } } } }),
    ),
    true,
  );
  assert.equal(variesByOwner(http({ credentials: { headers: { 'X-Key': 'local:shared' } } })), false);
  assert.equal(variesByOwner(http({ oauth: { per: 'tenant' } })), true);
  assert.equal(discoveryTenant(stdio({ discoveryTenant: 'acme' })), 'acme');
  // Whose connection: the tenant's, or with `connections: per-user` each user's (none: the tenant's, discovery).
  const perUser = { name: 's', transport: 'stdio', command: 'x', connections: 'per-user' } as never;
  assert.equal(connectionOwner(stdio(), 'acme', 'alice'), 'acme');
  assert.equal(connectionOwner(perUser, 'acme', 'alice'), 'acme/alice');
  assert.equal(connectionOwner(perUser, 'acme'), 'acme');
  // The upstream authorization stays the tenant's when only the connection is per user.
  const tenantOauth = http({ oauth: { per: 'tenant' }, connections: 'per-user' });
  assert.equal(connectionOwner(tenantOauth, 'acme', 'alice'), 'acme/alice');
  assert.equal(ownerOf(tenantOauth, 'acme', 'alice'), 'acme');
  assert.equal(discoveryTenant(stdio()), 'default');
});

test('serversUsing: a reference as configured, or as expanded for one tenant in the server environment; nothing looser', () => {
  const servers = [
    {
      name: 'demo',
      transport: 'stdio',
      command: 'x',
      environment: 'prod',
      credentials: { env: { TOKEN: 'local:demo-{env}-{tenant}' } },
    },
    { name: 'remote', transport: 'http', url: 'https://r.example/mcp', oauth: { issuer: 'https://i.example' } },
  ] as unknown as ServerConfig[];
  const uses = (ref: string) => serversUsing(servers, ref);
  assert.deepEqual(uses('local:demo-{env}-{tenant}'), ['demo']);
  assert.deepEqual(uses('local:demo-prod-acme'), ['demo']);
  assert.deepEqual(uses('local:demo-prod-acme.eu'), ['demo']);
  assert.deepEqual(uses('local:demo-prd-acme'), [], 'another environment');
  assert.deepEqual(uses('local:demo-{env}-{tenat}'), [], 'a typo of the template');
  assert.deepEqual(uses('local:demo-prod-{tenant}'), [], 'half expanded: what no revocation check reads');
  assert.deepEqual(uses('oauth:remote'), ['remote']);
  assert.deepEqual(uses('oauth:remote:acme'), ['remote']);
  assert.deepEqual(uses('oauth:demo'), []);
});

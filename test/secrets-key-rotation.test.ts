/**
 * `gatehouse secrets rotate-key` while a gateway runs (credentials/key-watch.ts): without a restart the
 * gateway scrubs the new key from what its servers print, records the new key's id for `gatehouse
 * check` 2.7, and seals upstream OAuth tokens under it; the authorizations made before the rotation
 * (re-sealed by rotate-key) and after it (sealed by the gateway) both open after a restart, which
 * reads the new key only. A real oidc-provider authorizes a real protected MCP server; a stdio server
 * prints the key file on its stderr.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { keyId } from '../src/credentials/local-store.ts';
import type { HttpServerConfig } from '../src/config/schema.ts';
import { ROOT, runCli, stdioServer } from './support/gateway.ts';
import { logTo } from './support/logs.ts';
import { freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import { followToRedirect, gatewayClient, startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';
import { startProtectedServer, type ProtectedServer } from './fixtures/upstreams/protected-http.ts';

const CLIENT_SECRET = `rk-client-${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rotate-key-'));
const file = join(dir, 'gatehouse.yaml');
const keyFile = join(dir, 'state', 'secrets.key');
let oidc: OidcFixture;
let upstream: ProtectedServer;
let callback = '';
const logs: string[] = [];

before(async () => {
  const [gwPort, upPort] = [await freePort(), await freePort()];
  callback = `http://127.0.0.1:${gwPort}/oauth/callback`;
  const resource = `http://127.0.0.1:${upPort}/mcp`;
  oidc = await startOidcProvider({
    resource,
    scopes: ['mcp:tools'],
    accessTokenTtl: 3600,
    extraClients: [gatewayClient(callback, CLIENT_SECRET)],
  });
  upstream = await startProtectedServer(oidc.issuer, upPort);
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${gwPort} }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\nservers:\n` +
      `  - name: remote\n    transport: http\n    url: ${JSON.stringify(resource)}\n    oauth: { issuer: ${JSON.stringify(oidc.issuer)}, clientId: gatehouse, clientSecret: ${JSON.stringify(CLIENT_SECRET)}, scopes: [mcp:tools] }\n    credentials: { discoveryTenant: acme }\n` +
      stdioServer('printer', join(ROOT, 'test/fixtures/upstreams/key-printing-server.ts'), [keyFile]),
  );
});
after(async () => {
  await upstream?.close();
  await oidc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<Gateway> {
  const gw = await Gateway.start(parseConfig(readFileSync(file, 'utf8'), file), {
    log: logTo('info', (c) => logs.push(c)),
  });
  await gw.waitForUpstreams(500);
  return gw;
}

/** A person of `tenant` authorizes server `remote` (the CLI seals the PKCE verifier; the gateway opens it). */
async function authorize(tenant: string): Promise<void> {
  await finish(tenant, await begin(tenant));
}

/** The authorization URL `upstream authorize` prints (its PKCE verifier pending, sealed, in the store). */
async function begin(tenant: string): Promise<URL> {
  const r = await runCli(['upstream', 'authorize', 'remote', '--tenant', tenant, '--json', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  return new URL(JSON.parse(r.stdout).url);
}

async function finish(tenant: string, u: URL): Promise<void> {
  u.searchParams.set('login_hint', `someone-${tenant}`);
  const page = await (await fetch(await followToRedirect(u.href, callback))).text();
  assert.match(page, new RegExp(`now authorized to call server remote for tenant ${tenant}`), page.slice(0, 300));
}

const accessToken = (gw: Gateway, tenant: string) =>
  gw.credentials.broker.oauth!.accessToken(
    gw.config.servers.find((s) => s.name === 'remote') as HttpServerConfig,
    tenant,
  );

/** The key file's key, in the encodings the scrubber removes (base64, hex). */
const keyTexts = () => {
  const b64 = readFileSync(keyFile, 'utf8').trim();
  return { b64, hex: Buffer.from(b64, 'base64').toString('hex'), id: keyId(Buffer.from(b64, 'base64')) };
};

/** Resolves once the printer's stderr was logged after `from` (a length of the log); that line. */
async function printed(from: number): Promise<string> {
  return eventually(() => logs.slice(from).find((l) => l.includes('"upstream":"printer"') && l.includes('KEYSEEN')), {
    timeoutMs: 10_000,
  });
}

test('a rotated key is scrubbed, recorded for check 2.7 and sealed with at once; every authorization opens after a restart', async () => {
  let gw = await start();
  try {
    await authorize('acme'); // before the rotation: sealed under the old key
    const old = keyTexts();
    assert.match(await printed(0), /KEYSEEN \[REDACTED:credential\]/);

    const r = await runCli(['secrets', 'rotate-key', '--json', '-c', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).upstreamTokens, 1, 'the stored authorization was re-sealed');
    assert.equal(typeof JSON.parse(r.stdout).secrets, 'number', 'and the secrets counted (walk R)');
    const next = keyTexts();
    assert.notEqual(next.id, old.id);
    assert.equal(JSON.parse(r.stdout).keyId, next.id);

    // The running gateway follows within seconds: its own record of the key it holds says so.
    const instance = gw.audit.log.stream;
    await eventually(
      async () => (await gw.store.revocations.keyIds(60_000)).find((g) => g.instance === instance)?.keyId === next.id,
      { timeoutMs: 10_000 },
    );
    const from = logs.length;
    const line = await printed(from);
    assert.match(line, /KEYSEEN \[REDACTED:credential\]/);
    const after = logs.slice(from).join('');
    for (const k of [next.b64, next.hex, old.b64]) assert.ok(!after.includes(k), 'no key in the log');
    const check = await runCli(['check', '--json', '-c', file]);
    const item = (JSON.parse(check.stdout).items as Array<{ id: string; status: string; why: string }>).find(
      (i) => i.id === '2.7',
    )!;
    assert.equal(item.status, 'pass', item.why);

    // An authorization after the rotation is sealed under the new key; the one before still opens.
    await authorize('globex');
    assert.ok(await accessToken(gw, 'acme'));
    assert.ok(await accessToken(gw, 'globex'));
  } finally {
    await gw.stop();
  }

  gw = await start(); // reads the new key only
  try {
    for (const tenant of ['acme', 'globex'])
      assert.ok(await accessToken(gw, tenant), `the authorization of ${tenant} opens after a restart`);
  } finally {
    await gw.stop();
  }
});

/**
 * The files of the state directory holding one of `sealed` (as stored, or its raw ciphertext), for each.
 * Read by another process: closing a file of SQLite's in this one would drop the running gateway's
 * locks on it (POSIX), and the CLI closing its connection would then empty the log itself.
 */
function holding(sealed: string[]): string[][] {
  const scan = `
    const { readdirSync, readFileSync, statSync } = require('node:fs');
    const { join } = require('node:path');
    const under = (d) => readdirSync(d).flatMap((n) => statSync(join(d, n)).isDirectory() ? under(join(d, n)) : [join(d, n)]);
    const files = under(process.argv[1]).map((p) => ({ p, b: readFileSync(p) }));
    const out = JSON.parse(process.argv[2]).map((s) => {
      const raw = Buffer.from(s.split('.')[2], 'base64url');
      return files.filter((f) => f.b.includes(Buffer.from(s)) || f.b.includes(raw)).map((f) => f.p);
    });
    process.stdout.write(JSON.stringify(out));`;
  return JSON.parse(
    execFileSync(process.execPath, ['-e', scan, join(dir, 'state'), JSON.stringify(sealed)], { encoding: 'utf8' }),
  );
}

test('walk S: after rotate-key, no file of the state directory holds a token or a pending verifier sealed under the old key (gateway running)', async () => {
  const gw = await start();
  try {
    const sealed = () => gw.store.upstreamTokens.get('remote', 'acme').then((v) => v!);
    const pendingNow = async () => (await gw.store.upstreamTokens.listPending()).map((p) => p.sealedVerifier);
    // Verifiers taken (their rows deleted) before the rotation: zeroed where they were.
    const taken: string[] = [];
    const authorizeKeeping = async (tenant: string) => {
      const u = await begin(tenant);
      taken.push(...(await pendingNow()));
      await finish(tenant, u);
    };
    await authorizeKeeping('acme');
    const replaced = await sealed(); // replaced below, before the rotation: zeroed where it was
    await authorizeKeeping('acme');
    await authorizeKeeping('globex');
    await authorizeKeeping('umbrella');
    assert.equal(taken.length, 4);
    // A tenant's tokens forgotten before the rotation: deleted, and zeroed where they were.
    const forgotten = (await gw.store.upstreamTokens.get('remote', 'umbrella'))!;
    const f = await runCli(['upstream', 'forget', 'remote', '--tenant', 'umbrella', '-c', file]);
    assert.equal(f.code, 0, f.stderr);
    const pending = await begin('initech'); // its verifier sealed under the old key, pending
    const verifiers = await pendingNow();
    assert.equal(verifiers.length, 1);
    const old = [
      replaced,
      await sealed(),
      (await gw.store.upstreamTokens.get('remote', 'globex'))!,
      ...verifiers,
      ...taken,
      forgotten,
    ];
    assert.notEqual(old[0], old[1]);
    // Not vacuous: before the rotation the log holds them (the gateway keeps its connection open).
    assert.ok(holding(old)[1]!.length > 0, 'the current token is in a file before the rotation');

    const r = await runCli(['secrets', 'rotate-key', '--json', '-c', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).oldValuesErased, true);
    assert.deepEqual(
      holding(old),
      old.map(() => []),
      'nothing sealed under the old key is left in the state directory',
    );
    assert.ok(await accessToken(gw, 'acme'), 'the re-sealed token still opens');
    await finish('initech', pending); // the re-sealed verifier too
  } finally {
    await gw.stop();
  }
});

test('rotate-key makes no key when it comes from the environment (the replicas would not have it): it says how to roll one', async () => {
  const r = await runCli(['secrets', 'rotate-key', '-c', file], {
    env: { GATEHOUSE_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') },
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /the secrets key comes from GATEHOUSE_SECRETS_KEY: rotate-key does not make that key/);
  assert.match(r.stderr, /the old one as GATEHOUSE_SECRETS_KEY_PREVIOUS, then run rotate-key with both set/);
});

/**
 * `gatehouse secrets rotate-key` killed part way (SIGKILL: a crash, a power loss) is finished by the
 * next run, or by the next gateway start, with the key it had written aside (credentials/key-rotation.ts).
 * The real CLI is killed at several points, seen in its progress on stderr or on disk; after each kill
 * every sealed value (embedded secrets, upstream token sets, a pending verifier) opens under exactly
 * one of the key file's key and the new key beside it; once finished, every one opens under the new
 * key and none under the old, what was re-sealed before the kill was not sealed again, and a gateway
 * serves a call to a real OAuth-protected server with the re-sealed token. SQLite and PostgreSQL.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { Gateway } from '../src/main.ts';
import { keyId, LocalSecretStore } from '../src/credentials/local-store.ts';
import { openStore } from '../src/storage/index.ts';
import type { Store } from '../src/storage/types.ts';
import { seal, unseal } from '../src/util/seal.ts';
import { createKey, ROOT, runCli } from './support/gateway.ts';
import { logTo, type LogLine } from './support/logs.ts';
import { freePort } from './support/processes.ts';
import { eventually } from './support/eventually.ts';
import { modernMeta, postModern, type Reply } from './support/rpc.ts';
import { createPgSchema, dropPgSchema, freshPgSchema, pgUrlWithSchema, requireService } from './support/services.ts';
import { followToRedirect, gatewayClient, startOidcProvider, type OidcFixture } from './fixtures/oidc/provider.ts';
import { startProtectedServer, type ProtectedServer } from './fixtures/upstreams/protected-http.ts';

const CLIENT_SECRET = `rr-client-${randomUUID()}`;
const SECRETS = { 'github-acme': `canary-gh-${randomUUID()}`, 'db-password': `canary-db-${randomUUID()}` };
let oidc: OidcFixture;
let upstream: ProtectedServer;
let gwPort = 0;
let resource = '';
const dirs: string[] = [];

before(async () => {
  [gwPort] = [await freePort()];
  const upPort = await freePort();
  resource = `http://127.0.0.1:${upPort}/mcp`;
  oidc = await startOidcProvider({
    resource,
    scopes: ['mcp:tools'],
    accessTokenTtl: 3600,
    extraClients: [gatewayClient(`http://127.0.0.1:${gwPort}/oauth/callback`, CLIENT_SECRET)],
  });
  upstream = await startProtectedServer(oidc.issuer, upPort);
});
after(async () => {
  await upstream?.close();
  await oidc?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Setup {
  file: string;
  stateDir: string;
  keyFile: string;
  apiKey: string;
}

/** A state directory and config (`storage`: YAML, or none for SQLite) whose gateway serves `remote` with upstream OAuth. */
function setup(storage = ''): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rotate-resume-'));
  dirs.push(dir);
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(
    file,
    `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: ${gwPort} }\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\n${storage}identity: { apiKeys: true }\nservers:\n` +
      `  - name: remote\n    transport: http\n    url: ${JSON.stringify(resource)}\n    oauth: { issuer: ${JSON.stringify(oidc.issuer)}, clientId: gatehouse, clientSecret: ${JSON.stringify(CLIENT_SECRET)}, scopes: [mcp:tools] }\n    credentials: { discoveryTenant: acme }\n    tools: { whoami: { class: READ } }\n`,
  );
  const stateDir = join(dir, 'state');
  return { file, stateDir, keyFile: join(stateDir, 'secrets.key'), apiKey: '' };
}

async function start(s: Setup, lines: LogLine[] = []): Promise<Gateway> {
  const log = logTo('info', (c) => {
    for (const line of c.trim().split('\n')) lines.push(JSON.parse(line));
  });
  const gw = await Gateway.start(parseConfig(readFileSync(s.file, 'utf8'), s.file), { log });
  await gw.waitForUpstreams(500);
  return gw;
}

async function withStoreOf<T>(s: Setup, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(parseConfig(readFileSync(s.file, 'utf8'), s.file).storage);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Before any rotation: tenant acme authorized through the real flow (gateway running), an API key for
 * it, embedded secrets, `extra` more token sets, and one authorization left pending (its verifier sealed).
 */
async function populate(s: Setup, extra: number): Promise<void> {
  s.apiKey = await createKey(s.file, { name: 'acme', tenant: 'acme', scopes: 'x' });
  const gw = await start(s);
  try {
    const r = await runCli(['upstream', 'authorize', 'remote', '--tenant', 'acme', '--json', '-c', s.file]);
    assert.equal(r.code, 0, r.stderr);
    const u = new URL(JSON.parse(r.stdout).url);
    u.searchParams.set('login_hint', 'someone-acme');
    const page = await (
      await fetch(await followToRedirect(u.href, `http://127.0.0.1:${gwPort}/oauth/callback`))
    ).text();
    assert.match(page, /now authorized to call server remote for tenant acme/, page.slice(0, 300));
    assert.equal(await whoami(gw, s), 'subject=someone-acme');
  } finally {
    await gw.stop();
  }
  const pending = await runCli(['upstream', 'authorize', 'remote', '--tenant', 'pending', '--json', '-c', s.file]);
  assert.equal(pending.code, 0, pending.stderr);
  const old = key(s.keyFile);
  const secrets = new LocalSecretStore(join(s.stateDir, 'secrets.enc.json'), old);
  for (const [name, value] of Object.entries(SECRETS)) await secrets.set(name, value);
  await withStoreOf(s, async (store) => {
    for (let i = 0; i < extra; i++) {
      const aad = `remote\u0000tenant-${i}`;
      await store.upstreamTokens.put('remote', `tenant-${i}`, seal(old, aad, `{"access_token":"t-${i}"}`), 1000 + i);
    }
  });
}

/** The tool call of tenant acme's key, answered by the protected server with the subject it verified. */
async function whoami(gw: Gateway, s: Setup): Promise<string | undefined> {
  const name = 'remote__whoami';
  // The tenant's connection is made once the authorization is there (at start, or when it completes).
  return eventually(
    async () => {
      const r = await postModern(
        gw.url,
        'tools/call',
        { name, arguments: {}, _meta: modernMeta() },
        { token: s.apiKey, name },
      );
      return ((await r.json()) as Reply).result?.content[0].text;
    },
    { intervalMs: 100, timeoutMs: 10_000 },
  );
}

const key = (file: string): Buffer => Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
const storeKeyId = (s: Setup): string => JSON.parse(readFileSync(join(s.stateDir, 'secrets.enc.json'), 'utf8')).keyId;

/**
 * `rotate-key` spawned, killed (SIGKILL) `afterMs` after `when` holds of what it printed on stderr so
 * far (looked at as it prints, and every few milliseconds for what is on disk); its stderr and how it ended.
 */
function rotateKilled(
  s: Setup,
  when: (stderr: string) => boolean,
  afterMs = 0,
): Promise<{ stderr: string; signal: string | null }> {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'secrets', 'rotate-key', '-c', s.file], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let seen = false;
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  const look = () => {
    if (seen || !when(stderr)) return;
    seen = true;
    if (afterMs) setTimeout(kill, afterMs);
    else kill();
  };
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    look();
  });
  const timer = setInterval(look, 3);
  return new Promise((res) =>
    child.once('close', (_code, signal) => {
      clearInterval(timer);
      res({ stderr, signal });
    }),
  );
}

/** What each sealed value opens under: 'old', 'new', or 'none' (never 'both': the keys differ). */
async function census(s: Setup, old: Buffer, next: Buffer): Promise<Record<string, number>> {
  const count: Record<string, number> = { old: 0, new: 0, none: 0 };
  const under = (open: (k: Buffer) => unknown) => {
    const by = [old, next].map((k) => {
      try {
        open(k);
        return true;
      } catch {
        return false;
      }
    });
    assert.ok(!(by[0] && by[1]), 'a value opens under both keys');
    const [underOld, underNew] = by;
    if (underOld) count.old++;
    else if (underNew) count.new++;
    else count.none++;
  };
  await withStoreOf(s, async (store) => {
    for (const r of await store.upstreamTokens.list()) {
      const sealed = (await store.upstreamTokens.get(r.server, r.tenant))!;
      under((k) => unseal(k, `${r.server}\u0000${r.tenant}`, sealed));
    }
    for (const p of await store.upstreamTokens.listPending())
      under((k) => unseal(k, `pkce\u0000${p.state}`, p.sealedVerifier));
  });
  // The embedded secrets: one file, under one key, each value as it was set.
  const id = storeKeyId(s);
  const k = id === keyId(old) ? old : next;
  assert.ok(id === keyId(old) || id === keyId(next), 'the secrets file is under the old or the new key');
  const secrets = new LocalSecretStore(join(s.stateDir, 'secrets.enc.json'), k);
  for (const [name, value] of Object.entries(SECRETS)) assert.equal(await secrets.get(name), value);
  count[id === keyId(old) ? 'secretsOld' : 'secretsNew'] = 1;
  return count;
}

/** After a kill: still interrupted (the new key beside the old), and every value under exactly one of them. */
async function interrupted(s: Setup, run: { stderr: string; signal: string | null }, total: number) {
  assert.equal(run.signal, 'SIGKILL', `rotate-key was killed part way, not finished first:\n${run.stderr}`);
  assert.ok(existsSync(`${s.keyFile}.next`), 'the new key is still beside the key file');
  const [old, next] = [key(s.keyFile), key(`${s.keyFile}.next`)];
  const c = await census(s, old, next);
  assert.equal(c.none, 0, 'every value opens under one of the two keys');
  assert.equal(c.old + c.new, total);
  return { old, next, census: c };
}

/** Finished: no key beside the key file, the key file holds `next`, every value opens under it and none under `old`. */
async function finished(s: Setup, old: Buffer, next: Buffer, total: number): Promise<void> {
  assert.ok(!existsSync(`${s.keyFile}.next`), 'no new key left beside the key file');
  assert.ok(key(s.keyFile).equals(next), 'the key file holds the key the interrupted rotation wrote aside');
  const c = await census(s, old, next);
  assert.deepEqual(c, { old: 0, new: total, none: 0, secretsNew: 1 });
}

/** The first progress line of the token sets, printed as soon as they are counted. */
const TOKENS_BEGIN = /re-sealing upstream authorizations: 0 of [1-9]/;
/** How long after it the process is killed: some token sets re-sealed by then, not all (a thousand, a commit each). */
const PART_WAY_MS = 100;

async function scenario(t: TestContext, storage: string, extra: number, finish: 'cli' | 'gateway'): Promise<void> {
  const s = setup(storage);
  await populate(s, extra);
  const total = extra + 2; // acme's token set and the pending verifier
  const old = key(s.keyFile);

  let run: { stderr: string; signal: string | null };
  if (finish === 'gateway') {
    // 0. Killed as soon as it says the new key is written aside. The kill lands a moment later, so the
    // small secrets file may be under the new key by then (it was, once, on a busy machine); the
    // token sets, a thousand commits, are not all.
    run = await rotateKilled(s, (e) => /the new key \(id \w+\) written aside/.test(e));
    const zeroth = await interrupted(s, run, total);
    assert.ok(zeroth.census.old > 0, JSON.stringify(zeroth.census));
    t.diagnostic(`killed after the key was written aside: ${JSON.stringify(zeroth.census)}`);
  }
  // 1. Killed once the embedded secrets are under the new key (seen on disk): the tokens are not, yet.
  run = await rotateKilled(s, () => existsSync(join(s.stateDir, 'secrets.enc.json')) && storeKeyId(s) !== keyId(old));
  const first = await interrupted(s, run, total);
  assert.equal(first.census.secretsNew, 1);
  const next = first.next;
  t.diagnostic(`killed after the secrets: ${JSON.stringify(first.census)}`);

  // 2. Run again: it says what it found, finishes with the same key, and is killed part way through the tokens.
  run = await rotateKilled(s, (e) => TOKENS_BEGIN.test(e), PART_WAY_MS);
  assert.match(run.stderr, new RegExp(`found an interrupted key rotation \\(the new key, id ${keyId(next)},`));
  const second = await interrupted(s, run, total);
  assert.ok(second.next.equals(next), 'the second run kept the new key written aside, and made none of its own');
  assert.ok(second.census.new > first.census.new, 'some token sets were re-sealed before the second kill');
  assert.ok(second.census.old > 0, 'and some were not yet');
  t.diagnostic(`killed part way through the tokens: ${JSON.stringify(second.census)}`);
  // `gatehouse check` says so too.
  const check = await runCli(['check', '--json', '-c', s.file]);
  const item = (JSON.parse(check.stdout).items as Array<{ id: string; status: string; why: string }>).find(
    (i) => i.id === '2.7',
  )!;
  assert.equal(item.status, 'warn', item.why);
  assert.match(item.why, /a `gatehouse secrets rotate-key` was interrupted: its new key is still beside the key file/);

  if (finish === 'cli') {
    const r = await runCli(['secrets', 'rotate-key', '--json', '-c', s.file]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.keyId, keyId(next));
    assert.equal(out.resumed.keyId, keyId(next));
    assert.equal(out.secretsUnderNewKeyAlready, true);
    // Rows re-sealed before the kill were found so and left; the rest re-sealed now: each once.
    assert.equal(out.upstreamTokensUnderNewKeyAlready, second.census.new);
    assert.equal(out.upstreamTokens, second.census.old - 1); // the pending verifier is counted apart
    assert.equal(out.pendingVerifiers, 1);
    assert.equal(out.unreadable, 0);
  }
  const lines: LogLine[] = [];
  const gw = await start(s, lines); // with `finish: 'gateway'`, the start finishes the rotation
  try {
    await finished(s, old, next, total);
    const said = lines.map((l) => l.msg).join('\n');
    if (finish === 'gateway') {
      assert.match(said, new RegExp(`found an interrupted key rotation \\(the new key, id ${keyId(next)},`));
      assert.match(said, /the interrupted rotation is finished/);
    } else assert.doesNotMatch(said, /interrupted/);
    assert.equal(await whoami(gw, s), 'subject=someone-acme', 'a call made with the re-sealed token');
  } finally {
    await gw.stop();
  }
  // The next rotation is a fresh one: a new key, nothing to resume.
  const again = await runCli(['secrets', 'rotate-key', '--json', '-c', s.file]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).resumed, null);
  await finished(s, next, key(s.keyFile), total);
}

test('SQLite: rotate-key killed after the secrets and part way through the tokens; the next run finishes it', async (t) => {
  await scenario(t, '', 1000, 'cli');
});

test('SQLite: rotate-key killed three times; the next gateway start finishes it', async (t) => {
  await scenario(t, '', 1000, 'gateway');
});

test('PostgreSQL: rotate-key killed twice; the next run finishes it', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = await pgSchema();
  try {
    await scenario(t, pgStorage(schema), 1000, 'cli');
  } finally {
    await dropPgSchema(schema);
  }
});

test('PostgreSQL: rotate-key killed three times; the next gateway start finishes it', async (t) => {
  if (!(await requireService(t, 'postgres'))) return;
  const schema = await pgSchema();
  try {
    await scenario(t, pgStorage(schema), 1000, 'gateway');
  } finally {
    await dropPgSchema(schema);
  }
});

async function pgSchema(): Promise<string> {
  const schema = freshPgSchema();
  await createPgSchema(schema);
  return schema;
}

const pgStorage = (schema: string): string =>
  `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`;

/**
 * The attacker walk of the reload guard (HIGH), live: `gatehouse start` with API keys, a policy
 * (READ allowed, WRITE denied), a rate limit and a per-tenant credential; its files then rewritten
 * as the walk did, each checked with a real MCP client. On the old code each was applied (at info
 * level): every tenant ran with acme's secret, calls beyond the limit got through, the loosened
 * policy was applied at info. Now: the credential losing `{tenant}` and the limits removed are
 * refused (the running config kept), a truncated policy file keeps the running policy, and the
 * loosened policy is applied with a warn-level note naming what widened.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, createKey, startCli, stdioServer } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-walk-'));
const stateDir = join(dir, 'state');
const SECRET = { acme: 'tok-acme-7f3a9c', globex: 'tok-globex-2b8e41' };
const policyFile = join(dir, 'policy.yaml');
const STRICT =
  'rules:\n  - { id: reads, classes: [READ], effect: allow }\n  - { id: writes, classes: [WRITE], effect: deny }\n';
const LOOSE = 'rules:\n  - { id: all, classes: [READ, WRITE, DESTRUCTIVE], effect: allow }\n';
const LIMITS =
  'limits:\n  rules: [{ id: two, scope: principal, tools: [rec__other], rate: { points: 2, perSeconds: 3600 } }]\n';
const config = (ref: string, limits = LIMITS) =>
  `version: 1\ngateway:\n  listen: { host: 127.0.0.1, port: 0 }\n  stateDir: ${JSON.stringify(stateDir)}\n` +
  `identity: { apiKeys: true }\npolicy: { files: [policy.yaml] }\n${limits}servers:\n` +
  stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
  `    env: { RECORD_FILE: ${JSON.stringify(join(dir, 'rec.jsonl'))} }\n` +
  `    credentials: { env: { API_TOKEN: "${ref}" }, discoveryTenant: acme }\n` +
  '    tools: { echo_env: { class: READ }, other: { class: READ }, record: { class: WRITE } }\n';

let gw: Awaited<ReturnType<typeof startCli>>;
const keys: Record<string, string> = {};

before(async () => {
  writeFileSync(policyFile, STRICT);
  mkdirSync(stateDir, { recursive: true });
  const store = await localSecrets(stateDir);
  await store.set('tok-acme', SECRET.acme);
  await store.set('tok-globex', SECRET.globex);
  gw = await startCli(config('local:tok-{tenant}'), dir);
  for (const tenant of ['acme', 'globex'] as const)
    keys[tenant] = await createKey(gw.file, { name: tenant, tenant, scopes: 'x' });
});
after(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A real MCP client with the tenant's key calls `name`; whether it succeeded, and what it said. */
async function call(tenant: 'acme' | 'globex', name: string, args: Record<string, unknown>) {
  const client = new Client({ name: 'walk', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  const headers = { Authorization: `Bearer ${keys[tenant]}` };
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers } }));
    const r = await client.callTool({ name, arguments: args });
    return { ok: !r.isError, text: JSON.stringify(r.content) };
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  } finally {
    await client.close().catch(() => {});
  }
}
const digest = (v: string) => `sha256:${createHash('sha256').update(v).digest('hex')}`;
const line = (text: string) => JSON.parse(text) as { level: number; msg: string; err?: string; notes?: string[] };

/** Writes `file` and waits for the reload's verdict (applied or refused) logged after it. */
async function rewrite(file: string, text: string) {
  const from = gw.log().length;
  writeFileSync(file, text);
  return line(await gw.logged(/configuration reload/, from));
}

test('a credential reference that loses {tenant} is refused: globex keeps its own secret, not acme', async () => {
  const mine = await call('globex', 'rec__echo_env', { name: 'API_TOKEN', encoding: 'sha256' });
  assert.match(mine.text, new RegExp(digest(SECRET.globex)), mine.text);
  const r = await rewrite(gw.file, config('local:tok-acme'));
  assert.equal(r.msg, 'configuration reload refused; keeping the last good configuration');
  assert.equal(r.level, 50);
  assert.match(r.err ?? '', /server rec: credentials\.env\.API_TOKEN no longer names \{tenant\}/);
  const still = await call('globex', 'rec__echo_env', { name: 'API_TOKEN', encoding: 'sha256' });
  assert.match(still.text, new RegExp(digest(SECRET.globex)), still.text);
  assert.doesNotMatch(still.text, new RegExp(digest(SECRET.acme)), 'globex ran with acme secret');
});

test('limits removed are refused: a call beyond the limit is still refused', async () => {
  for (const n of [1, 2]) assert.equal((await call('acme', 'rec__other', { note: `n${n}` })).ok, true, `call ${n}`);
  assert.equal((await call('acme', 'rec__other', { note: 'n3' })).ok, false, 'the third is beyond the limit');
  const r = await rewrite(gw.file, config('local:tok-{tenant}', ''));
  assert.equal(r.level, 50, JSON.stringify(r));
  assert.match(r.err ?? '', /limits removed: calls would no longer be limited/);
  const beyond = await call('acme', 'rec__other', { note: 'n4' });
  assert.equal(beyond.ok, false, beyond.text);
  assert.match(beyond.text, /rate limited/i);
  // The file put back as it runs, so the next reloads compare only what they change.
  assert.equal((await rewrite(gw.file, config('local:tok-{tenant}'))).msg, 'configuration reloaded');
});

test('a truncated policy file keeps the running policy; a loosened one is applied with a warn note naming the widening', async () => {
  const cut = await rewrite(policyFile, LOOSE.slice(0, 40));
  assert.equal(cut.level, 50, JSON.stringify(cut));
  const denied = await call('acme', 'rec__record', { note: 'after-cut' });
  assert.equal(denied.ok, false, denied.text);
  const r = await rewrite(policyFile, LOOSE);
  assert.equal(r.msg, 'configuration reloaded', JSON.stringify(r));
  assert.equal(r.level, 40, 'logged at warn level');
  const note = r.notes?.find((n) => n.startsWith('weaker: policy allows more than it did')) ?? '';
  assert.match(note, /WRITE deny -> allow: [^;]*\brec__record\b/, JSON.stringify(r.notes));
  assert.match(note, /DESTRUCTIVE deny -> allow: any tool/);
  assert.equal((await call('acme', 'rec__record', { note: 'loosened' })).ok, true);
});

/**
 * The gateway of the complete-mediation tests (test/mediation-*.test.ts), one per test file: two
 * tenants (acme, globex) with canary secrets, a third (nobody) that no rule allows, and a stateful
 * upstream (test/fixtures/upstreams/tenant-server.ts) that records every message it receives, tagged
 * with the tenant whose process received it; and the ways its tests reach it.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './gateway.ts';
import { localSecrets } from './secrets.ts';
import { openLegacySession, postLegacy, type Reply } from './rpc.ts';
import { eventually } from './eventually.ts';
import type { Logger } from '../../src/observability/logger.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-mediation-'));
export const data = join(tmp, 'data');
export const CANARY = { acme: `canary-acme-${randomUUID()}`, globex: `canary-globex-${randomUUID()}` };
/** Secrets of tenants that never call here (noread has no scope to): no connection ever holds them. */
export const UNUSED = { nobody: `canary-nobody-${randomUUID()}`, noread: `canary-noread-${randomUUID()}` };
export const record = join(tmp, 'record.jsonl');
export const twinRecord = join(tmp, 'twin.jsonl');
export const keys: Record<string, string> = {};
export let t: TestGateway;

const SERVER = join(ROOT, 'test/fixtures/upstreams/tenant-server.ts');
const READ_TOOLS = ['whoami', 'read_file', 'fetch', 'strict', 'leak', 'roots', 'touch', 'relist', 'report', 'stray'];
const classes = `    tools: { ${READ_TOOLS.map((n) => `${n}: { class: READ }`).join(', ')} }\n`;

/**
 * Starts the gateway before the test file's tests (a before() hook) and stops it after them; `log`:
 * where it logs; `audit`: the `audit:` section's settings (YAML flow mapping), if any.
 */
export function startMediationGateway(opts: { log?: Logger; audit?: string } = {}): void {
  before(async () => {
    mkdirSync(join(data, 'acme'), { recursive: true });
    mkdirSync(join(data, 'globex'), { recursive: true });
    writeFileSync(join(data, 'acme', 'notes.txt'), 'acme notes');
    writeFileSync(join(data, 'globex', 'plans.txt'), 'globex plans');
    writeFileSync(join(tmp, 'outside.txt'), 'outside the allowed folder');
    symlinkSync(join(tmp, 'outside.txt'), join(data, 'acme', 'link.txt'));
    const policy = join(tmp, 'policy.yaml');
    writeFileSync(
      policy,
      `
  resources:
    - { tool: mt__read_file, resource: { kind: path, arg: path } }
    - { tool: mt__fetch, resource: { kind: url, arg: url } }
  rules:
    - id: tenants-read
      subjects: { tenants: [acme, globex] }
      tools: [mt__whoami, mt__strict, mt__leak, mt__roots, mt__touch, mt__relist, mt__report, mt__extra, mt__stray, 'twin__*']
      classes: [READ]
      effect: allow
    - id: tenants-prompts
      subjects: { tenants: [acme, globex] }
      prompts: ['mt__*', 'twin__*']
      effect: allow
    - id: own-files
      subjects: { tenants: [acme] }
      tools: [mt__read_file]
      resources: ['${data}/acme/*']
      effect: allow
    - id: own-file-resources
      subjects: { tenants: [acme] }
      resources: ['${data}/acme/*', 'secret://token']
      effect: allow
    - id: globex-token
      subjects: { tenants: [globex] }
      resources: ['secret://token']
      effect: allow
    - id: tenant-notes
      subjects: { tenants: [acme, globex] }
      resources: ['tenant://*/notes', 'tenant://*/evil']
      effect: allow
    - id: docs
      subjects: { tenants: [acme] }
      tools: [mt__fetch]
      resources: ['https://docs.allowed.test/*']
      effect: allow
  `,
    );
    const creds = '    credentials: { env: { TENANT_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n';
    t = await startGateway(
      stdioServer('mt', SERVER) +
        `    env: { RECORD_FILE: ${JSON.stringify(record)} }\n` +
        creds +
        classes +
        stdioServer('twin', SERVER) +
        `    env: { RECORD_FILE: ${JSON.stringify(twinRecord)} }\n` +
        '    connections: per-user\n' +
        creds +
        classes,
      {
        log: opts.log,
        top: `identity: { apiKeys: true, requiredScopes: { READ: [mcp:read] } }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: quarantine }\nsecrets: { results: redact }\n${opts.audit ? `audit: ${opts.audit}\n` : ''}`,
        before: async (stateDir: string) => {
          const store = await localSecrets(stateDir);
          await store.set('canary-acme', CANARY.acme);
          await store.set('canary-globex', CANARY.globex);
          await store.set('canary-nobody', UNUSED.nobody);
          await store.set('canary-noread', UNUSED.noread);
        },
      },
    );
    for (const [tenant, scopes] of [
      ['acme', 'mcp:read'],
      ['globex', 'mcp:read'],
      ['nobody', 'mcp:read'],
      ['noread', 'mcp:other'],
    ] as const) {
      keys[tenant] = await createKey(t.file, { name: tenant, tenant, scopes });
    }
    keys.acme2 = await createKey(t.file, { name: 'acme-two', tenant: 'acme', scopes: 'mcp:read' });
    // The keys made the tenants known after the start: the gateway learns a new tenant's secrets
    // within five seconds (credentials/known-secrets.ts); tests of the outbound check start once it has.
    await eventually(() => Object.values(CANARY).every((c) => t.gw.credentials.scrubber.find({ c }).length > 0), {
      timeoutMs: 15_000,
    });
  });
  after(async () => {
    await t?.close();
    rmSync(tmp, { recursive: true, force: true });
  });
}

/** What reached the upstream processes: each message with the tenant whose process received it. */
export function reached(
  file = record,
): Array<{ tenant: string; msg: { method?: string; params?: Record<string, unknown> } }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
export const count = (method: string, file = record) => reached(file).filter((r) => r.msg.method === method).length;

let seq = 0;
/** The next JSON-RPC id of this file's requests. */
export const nextSeq = () => ++seq;
/** A raw 2025-11-25 request on a fresh session of `tenant`; the JSON-RPC response. */
export async function rpc(
  tenant: string,
  method: string,
  params: Record<string, unknown>,
  path = '/mcp',
): Promise<Reply> {
  const sid = await session(tenant, path);
  const r = await postLegacy(t.url, { jsonrpc: '2.0', id: ++seq, method, params }, { sid, token: keys[tenant], path });
  const text = await r.text();
  const line = text.startsWith('{')
    ? text
    : text
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .find((l) => l.includes(`"id":${seq}`));
  return JSON.parse(line ?? text) as Reply;
}
const sessions = new Map<string, string>();
async function session(tenant: string, path: string): Promise<string> {
  const key = `${tenant} ${path}`;
  if (sessions.has(key)) return sessions.get(key)!;
  sessions.set(key, await openLegacySession(t.url, 'raw', { id: 0, token: keys[tenant], path }));
  return sessions.get(key)!;
}

export async function sdk(tenant: string, capabilities: Record<string, unknown> = {}, path = '/mcp'): Promise<Client> {
  const c = new Client({ name: `mediation-${tenant}`, version: '1.0.0' }, { capabilities });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}${path}`), {
      requestInit: { headers: { authorization: `Bearer ${keys[tenant]}` } },
    }),
  );
  return c;
}

export const noCanary = (what: unknown, label: string) => {
  const s = typeof what === 'string' ? what : JSON.stringify(what);
  for (const c of Object.values(CANARY)) {
    for (const enc of [c, Buffer.from(c).toString('base64'), Buffer.from(c).toString('hex')])
      assert.ok(!s.includes(enc), `${label} carries a canary: ${s.slice(0, 300)}`);
    assert.ok(!s.includes(c.slice(0, 18)) || !s.includes(c.slice(18)), `${label} carries a split canary`);
  }
};

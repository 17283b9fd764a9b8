/**
 * tasks/get, tasks/result and tasks/cancel pass the `secret:outbound` check on what they forward (the
 * task's id and the caller's `_meta`), as every other request does: walk V finding F3. Before, the
 * tasks/* rows of the method table skipped inspect while the caller's `_meta` went on to the upstream,
 * so another tenant's injected secret or a GitHub token in it reached the server verbatim, on the
 * replica holding the task and through another replica (the task relay), and no record said so.
 *
 * Real parts: two gateways sharing one PostgreSQL schema and one Redis prefix (a task started through
 * A is followed through B, src/gateway/task-relay.ts), each in front of the SDK's task server
 * (test/fixtures/upstreams/task-server.ts) recording every message it receives; two tenants with a
 * canary credential each (env API_TOKEN); SDK v1 (2025-11-25) clients and 2026-07-28 requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { setSharedSecrets } from './support/secrets.ts';
import {
  createPgSchema,
  dropPgSchema,
  dropRedisKeys,
  freshPgSchema,
  pgUrlWithSchema,
  postgresAvailable,
  redisAvailable,
} from './support/services.ts';
import { modernMeta, postModern, postModernCall, replyOf } from './support/rpc.ts';

const SERVER = join(ROOT, 'test/fixtures/upstreams/task-server.ts');
/** The credential each tenant's connections are given (env API_TOKEN). */
const CANARY = {
  acme: `task-canary-acme-${randomBytes(6).toString('hex')}`,
  globex: `task-canary-globex-${randomBytes(6).toString('hex')}`,
};
const GHP = `ghp_${'Z9y8X7w6V5'.repeat(4)}`;
const AKIA = 'AKIAIOSFODNN7EXAMPLE';
/** The same, split by a mark that shows nothing (U+034F combining grapheme joiner, U+FE0F variation selector). */
const GHP_SPLIT = `${GHP.slice(0, 20)}\u034f${GHP.slice(20)}`;
const AKIA_SPLIT = `AKIA\ufe0f${AKIA.slice(4)}`;
const SECRETS = [
  CANARY.globex,
  CANARY.acme,
  GHP,
  AKIA,
  Buffer.from(CANARY.globex).toString('base64'),
  GHP_SPLIT,
  AKIA_SPLIT,
];
const schema = freshPgSchema();
// The replicas' one secrets key, as docs/operations.md has it (in-process replicas read this environment).
process.env.GATEHOUSE_SECRETS_KEY ??= randomBytes(32).toString('base64');
const prefix = `gh-test-task-meta-${randomBytes(4).toString('hex')}:`;
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-task-meta-'));
const recordOf = { a: join(tmp, 'a.jsonl'), b: join(tmp, 'b.jsonl') };
let a: TestGateway, b: TestGateway;
const keys: Record<string, string> = {};
const open: Client[] = [];
let ready = false;

function replica(record: string): Promise<TestGateway> {
  return startGateway(
    `${stdioServer('tasks', SERVER, ['--quiet'])}    env: { RECORD_FILE: ${JSON.stringify(record)} }\n` +
      '    credentials: { env: { API_TOKEN: "local:task-key-{tenant}" }, discoveryTenant: acme }\n' +
      '    tools: { deploy: { class: READ } }\n',
    {
      storage: `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(pgUrlWithSchema(schema))}\n`,
      top:
        `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(tmp, 'policy.yaml'))}] }\n` +
        `inventory: { newTools: accept }\nlimits:\n  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${prefix}", commandTimeoutMs: 2000 }\n`,
      // Replicas on PostgreSQL share one key and read `local:` secrets from the database (ADR 0016).
      before: (stateDir) =>
        setSharedSecrets(
          stateDir,
          pgUrlWithSchema(schema),
          Object.fromEntries(Object.entries(CANARY).map(([tenant, value]) => [`task-key-${tenant}`, value])),
        ),
    },
  );
}

before(async () => {
  if (!(await postgresAvailable()) || !(await redisAvailable())) return;
  await createPgSchema(schema);
  writeFileSync(
    join(tmp, 'policy.yaml'),
    "rules:\n  - { id: both, subjects: { tenants: [acme, globex] }, tools: ['tasks__*'], effect: allow }\n",
  );
  a = await replica(recordOf.a);
  b = await replica(recordOf.b);
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(a.file, { name: tenant, tenant });
  // Both tenants' connections run on both replicas (each holds its canary): every value is known to both.
  for (const g of [a, b]) for (const tenant of ['globex', 'acme']) await deploy(await client(g, tenant), 0);
  ready = true;
});

after(async () => {
  await Promise.all(open.map((x) => x.close().catch(() => {})));
  await Promise.all([a, b].filter(Boolean).map((g) => g.close()));
  await dropPgSchema(schema).catch(() => {});
  await dropRedisKeys(prefix).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

/** A 2025-11-25 client on replica `g` as tenant `who`. */
async function client(g: TestGateway, who: string): Promise<Client> {
  const x = new Client({ name: `task-meta-${who}`, version: '1' });
  await x.connect(
    new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys[who]}` } },
    }),
  );
  open.push(x);
  return x;
}

async function deploy(x: Client, ms: number): Promise<string> {
  const r = await x.request(
    { method: 'tools/call', params: { name: 'tasks__deploy', arguments: { ms }, task: { ttl: 120_000 } } },
    CreateTaskResultSchema,
  );
  return r.task.taskId;
}

const Any = z.object({}).passthrough();
/** What `method` with `_meta` answers: the result, or the error's code and message. */
async function ask(x: Client, method: string, taskId: string, meta: Record<string, unknown>) {
  try {
    return { result: await x.request({ method, params: { taskId, _meta: meta } } as never, Any, { timeout: 20_000 }) };
  } catch (err) {
    return { code: (err as { code: number }).code, message: (err as Error).message };
  }
}

/** Every message the replicas' task servers received (both tenants' processes), as text. */
const received = () =>
  Object.values(recordOf)
    .map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : ''))
    .join('');
/** The tasks/* requests the upstreams received whose `_meta` has `key`. */
const withKey = (key: string) =>
  received()
    .split('\n')
    .filter((l) => l.includes('"tasks/') && l.includes(key));

/** The refusal records of `g` for `method` by the `secret:outbound` rule. */
async function refusals(g: TestGateway, method: string) {
  const records = (await g.gw.store.audit.read({ kind: 'call.refused', limit: 10_000 })).map((r) => r.event);
  return records.filter(
    (e) => e.method === method && (e.decision as { rule?: string } | undefined)?.rule === 'secret:outbound',
  );
}

const HOSTILE: Array<[string, Record<string, unknown>]> = [
  ["another tenant's canary", { note: CANARY.globex }],
  ["another tenant's canary, base64", { deep: { x: [Buffer.from(CANARY.globex).toString('base64')] } }],
  ['a GitHub token and an AWS key', { tok: GHP, [AKIA]: 'key' }],
  ['a GitHub token and an AWS key split by invisible marks', { tok: GHP_SPLIT, [AKIA_SPLIT]: 'key' }],
];

test('a plain `_meta` key of the caller still reaches the upstream with tasks/get, locally and through B (forwarded as checked)', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'acme');
  const viaB = await client(b, 'acme');
  const handle = await deploy(viaA, 600_000);
  for (const [where, x] of [
    ['a', viaA],
    ['b', viaB],
  ] as const) {
    const mark = `plain-mark-${where}-${randomBytes(4).toString('hex')}`;
    const r = await ask(x, 'tasks/get', handle, { 'example.com/trace': mark });
    assert.ok('result' in r, JSON.stringify(r));
    assert.equal(withKey(mark).length, 1, `the task server on A got the plain key once (asked via ${where})`);
  }
});

for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel'])
  for (const [what, meta] of HOSTILE)
    test(`${method} with ${what} in _meta is refused (secret:outbound) on A and through B; no upstream receives it; both refusals are audited`, async (t) => {
      if (!ready) return t.skip('postgres and redis needed');
      const viaA = await client(a, 'acme');
      const viaB = await client(b, 'acme');
      const handle = await deploy(viaA, 600_000);
      // One store (the replicas share its schema): the refusal on A and the one on B are both in it.
      const before = (await refusals(a, method)).length;
      for (const [where, x] of [
        ['A', viaA],
        ['B', viaB],
      ] as const) {
        const r = await ask(x, method, handle, meta);
        assert.ok('code' in r, `${method} went through on ${where}: ${JSON.stringify(r)}`);
        assert.equal(r.code, -32001, r.message);
        assert.match(r.message, /secret:outbound/);
        for (const s of SECRETS) assert.ok(!r.message.includes(s), r.message);
      }
      const got = received();
      for (const s of SECRETS) assert.ok(!got.includes(s), `an upstream received ${s.slice(0, 8)}…`);
      const records = await refusals(b, method);
      assert.equal(records.length, before + 2, `${method}: one refusal record for each of A and B`);
      for (const e of records.slice(-2)) {
        assert.equal(e.stage, 'inspect');
        assert.equal(e.error, 'E_POLICY_DENIED');
        assert.equal(e.tool, 'tasks__deploy');
        assert.match(JSON.stringify(e.decision), /carries a credential/);
        for (const s of SECRETS) assert.ok(!JSON.stringify(e).includes(s), JSON.stringify(e));
      }
      // The task itself is untouched: still working, on A, as seen through B.
      const still = await ask(viaB, 'tasks/get', handle, {});
      assert.equal((still as { result?: { status?: string } }).result?.status, 'working', JSON.stringify(still));
    });

test('2026-07-28 callers: tasks/get and tasks/result with a credential in `_meta` are refused on A and through B; nothing reaches an upstream', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const token = keys.globex;
  const started = await postModernCall(
    a.url,
    'tasks__deploy',
    { ms: 600_000 },
    { token, extra: { task: { ttl: 60_000 } } },
  ).then(replyOf);
  const handle = String((started.result?.task as { taskId?: string } | undefined)?.taskId);
  assert.ok(started.result?.task, JSON.stringify(started));
  for (const g of [a, b])
    for (const method of ['tasks/get', 'tasks/result'])
      for (const extra of [{ note: `mine ${CANARY.acme}` }, { tok: GHP }]) {
        const r = await postModern(
          g.url,
          method,
          { taskId: handle, _meta: { ...modernMeta(), ...extra } },
          { token, name: handle },
        ).then(replyOf);
        assert.equal(r.error?.code, -32001, `${method}: ${JSON.stringify(r)}`);
        assert.match(r.error.message, /secret:outbound/);
      }
  const got = received();
  for (const s of SECRETS) assert.ok(!got.includes(s), `an upstream received ${s.slice(0, 8)}…`);
  const plain = await postModern(
    b.url,
    'tasks/get',
    { taskId: handle, _meta: modernMeta() },
    { token, name: handle },
  ).then(replyOf);
  assert.equal(plain.result?.status, 'working', JSON.stringify(plain));
});

test('tools/call with the same `_meta` is refused as before (the rule the tasks/* rows now share)', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const x = await client(a, 'acme');
  await assert.rejects(
    x.request(
      { method: 'tools/call', params: { name: 'tasks__deploy', arguments: { ms: 0 }, _meta: { note: CANARY.globex } } },
      CallToolResultSchema,
    ),
    /secret:outbound/,
  );
});

/** A lone UTF-16 surrogate in what an upstream received (as sent, or as its JSON escape). */
const LONE = /\\ud[89a-f][0-9a-f]{2}|[\ud800-\udfff]/i;

test('tasks/* with a lone UTF-16 surrogate in `_meta` (a value, a key) is refused -32602 naming where, on A and through B; no upstream receives it', async (t) => {
  if (!ready) return t.skip('postgres and redis needed');
  const viaA = await client(a, 'globex');
  const viaB = await client(b, 'globex');
  const handle = await deploy(viaA, 600_000);
  for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel'])
    for (const [meta, path] of [
      [{ k: 'lone \ud800' }, '_meta.k'],
      [{ 'k\udc00': 1 }, '_meta["k\\udc00"]'],
    ] as const)
      for (const [where, x] of [
        ['A', viaA],
        ['B', viaB],
      ] as const) {
        const r = await ask(x, method, handle, meta);
        assert.ok('code' in r, `${method} went through on ${where}: ${JSON.stringify(r)}`);
        assert.equal(r.code, -32602, r.message);
        assert.ok(r.message.includes(path) && /lone UTF-16 surrogate/.test(r.message), r.message);
      }
  assert.doesNotMatch(received(), LONE);
  const still = await ask(viaB, 'tasks/get', handle, {});
  assert.equal((still as { result?: { status?: string } }).result?.status, 'working', JSON.stringify(still));
});

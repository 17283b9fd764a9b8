/**
 * What an upstream says outside any call — a log message, a resource update, a task's status — reaches
 * a caller only while it may still see that server (that resource, that task's tool) under the policy,
 * modes and revocations in force when it is said (walk V F5): a caller the policy denies the server
 * (mallory), one a reload denied it since (ann), one whose tenant an incident switched off (gina), one
 * revoked (carl) hear nothing of it, while a caller who may (alice) hears it on the same connection.
 * Real SDK clients -> a real gateway -> the tenant-server and task-server fixtures, one process per tenant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  TaskStatusNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { localSecrets } from './support/secrets.ts';
import { eventually } from './support/eventually.ts';
import { loadConfig } from '../src/config/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-notices-'));
const policy = join(tmp, 'policy.yaml');
const CANARY = { acme: `canary-acme-${randomUUID()}`, globex: `canary-globex-${randomUUID()}` };
const PEOPLE = [
  ['alice', 'acme'],
  ['mallory', 'acme'],
  ['ann', 'acme'],
  ['carl', 'acme'],
  ['gina', 'globex'],
] as const;
type Who = (typeof PEOPLE)[number][0];

let t: TestGateway;
const clients = {} as Record<Who, Client>;
/** What each caller heard outside its calls. */
const heard = {} as Record<
  Who,
  { logs: string[]; updates: string[]; statuses: Array<{ taskId: string; status: string }> }
>;

/** The policy: acme and globex use both servers; mallory (and, once `denyAnn`, ann) nothing of `mt`. */
function rules(denyAnn = false): string {
  const denied = denyAnn ? '[mallory, ann]' : '[mallory]';
  const subjects = `{ subjects: ${denied.replace(/(\w+)/g, '{ issuer: gatehouse, subject: $1 }')} }`;
  return `
rules:
  - id: tenants
    subjects: { tenants: [acme, globex] }
    tools: ['mt__*', 'ci__*']
    effect: allow
  - id: deploys
    subjects: { tenants: [acme, globex] }
    tools: [ci__deploy]
    effect: allow
  - id: tenant-prompts
    subjects: { tenants: [acme, globex] }
    prompts: ['mt__*']
    effect: allow
  - id: tenant-resources
    subjects: { tenants: [acme, globex] }
    resources: ['secret://token', 'tenant://*/notes']
    effect: allow
  - id: no-mt
    subjects: ${subjects}
    tools: ['mt__*']
    effect: deny
  - id: no-mt-prompts
    subjects: ${subjects}
    prompts: ['mt__*']
    effect: deny
  - id: no-mt-resources
    subjects: ${subjects}
    resources: ['*']
    effect: deny
`;
}

before(async () => {
  writeFileSync(policy, rules());
  const creds = '    credentials: { env: { TENANT_TOKEN: "local:canary-{tenant}" }, discoveryTenant: acme }\n';
  t = await startGateway(
    `${stdioServer('mt', join(ROOT, 'test/fixtures/upstreams/tenant-server.ts'))}    env: { RECORD_FILE: ${JSON.stringify(join(tmp, 'record.jsonl'))} }\n${creds}    tools: { leak: { class: READ }, touch: { class: READ }, whoami: { class: READ } }\n` +
      `${stdioServer('ci', join(ROOT, 'test/fixtures/upstreams/task-server.ts'), ['--say-started'])}${creds}    tools: { deploy: { class: WRITE } }\n`,
    {
      top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(policy)}] }\ninventory: { newTools: accept }\nsecrets: { results: redact }\n`,
      before: async (stateDir) => {
        const store = await localSecrets(stateDir);
        await store.set('canary-acme', CANARY.acme);
        await store.set('canary-globex', CANARY.globex);
      },
    },
  );
  for (const [name, tenant] of PEOPLE) {
    const key = await createKey(t.file, { name, tenant, person: name, scopes: 'mcp:tools' });
    const c = new Client({ name, version: '1' });
    const h = {
      logs: [] as string[],
      updates: [] as string[],
      statuses: [] as Array<{ taskId: string; status: string }>,
    };
    heard[name] = h;
    c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void h.logs.push(String(n.params.data)));
    c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void h.updates.push(n.params.uri));
    c.setNotificationHandler(TaskStatusNotificationSchema, (n) => void h.statuses.push(n.params));
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    await c.setLoggingLevel('debug');
    clients[name] = c;
  }
});
after(async () => {
  await Promise.all(Object.values(clients).map((c) => c.close()));
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const call = (who: Who, name: string, args: Record<string, unknown> = {}) =>
  clients[who].request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema);
const mtNames = async (who: Who) => [
  ...(await clients[who].listTools()).tools.map((x) => x.name).filter((n) => n.startsWith('mt__')),
  ...(await clients[who].listResources()).resources.map((r) => r.uri).filter((u) => u.startsWith('gatehouse:mt/')),
  ...(await clients[who].listPrompts()).prompts.map((p) => p.name).filter((n) => n.startsWith('mt__')),
];
/** The log lines `who` heard, less what follows `later` (the scrubbed secret). */
const lines = (who: Who) => heard[who].logs.map((l) => l.split(' later')[0]);
/** Each canary, whole or in halves: nowhere in what `who` heard. */
function noCanary(who: Who): void {
  const s = JSON.stringify(heard[who]);
  for (const c of Object.values(CANARY))
    assert.ok(!s.includes(c.slice(0, 18)) && !s.includes(c.slice(18)), `${who} heard a canary: ${s}`);
}
/** acme's `mt` process says its two log lines once `file` appears; resolves once they were said. */
async function sayLater(who: Who): Promise<() => Promise<void>> {
  const file = join(tmp, `say-${randomUUID()}`);
  await call(who, 'mt__leak', { how: 'later', when: file });
  return async () => {
    writeFileSync(file, '');
    await eventually(() => !existsSync(file), { timeoutMs: 10_000, intervalMs: 20 });
    await pause(300); // what a stream would have been sent by now
  };
}

test("a caller the policy denies every item of a server hears none of that server's log messages, said on its tenant's connection", async () => {
  assert.deepEqual(await mtNames('mallory'), [], 'mallory sees nothing of mt');
  await assert.rejects(call('mallory', 'mt__whoami'), /unknown tool/);
  assert.ok((await mtNames('alice')).length > 0);
  const say = await sayLater('alice');
  await say();
  assert.deepEqual(
    lines('alice'),
    ['error of acme', 'debug of acme'],
    'alice, who may use mt, hears them (the witness: they were said)',
  );
  noCanary('alice');
  assert.deepEqual(heard.mallory.logs, [], 'mallory learns nothing of mt');
});

test('a reload that denies a caller a server: it hears none of its log messages or resource updates from then on', async () => {
  await clients.ann.subscribeResource({ uri: 'gatehouse:mt/secret://token' });
  await clients.alice.subscribeResource({ uri: 'gatehouse:mt/secret://token' });
  const [before, anns] = [heard.alice.logs.length, heard.ann.logs.length];
  let say = await sayLater('alice');
  await say();
  assert.equal(heard.ann.logs.length, anns + 2, 'ann hears them while she may use mt');
  writeFileSync(policy, rules(true));
  await t.gw.reload(await loadConfig(t.file));
  assert.deepEqual(await mtNames('ann'), [], 'ann sees nothing of mt now');
  say = await sayLater('alice');
  await call('alice', 'mt__touch', { uri: 'secret://token' });
  await say();
  assert.equal(heard.alice.logs.length, before + 4);
  assert.deepEqual(heard.alice.updates, ['gatehouse:mt/secret://token'], 'alice hears the update (the witness)');
  assert.deepEqual(heard.ann.updates, [], 'no update of a resource she may no longer see');
  assert.equal(heard.ann.logs.length, anns + 2, 'no log line of mt after the reload');
  writeFileSync(policy, rules());
  await t.gw.reload(await loadConfig(t.file));
});

test('a revoked person hears nothing more, before its stream is ended', async () => {
  const r = await runCli(['principals', 'revoke', '--subject', 'carl', '--reason', 'walk V', '-c', t.file]);
  assert.equal(r.code, 0, r.stderr);
  const [before, carls] = [heard.alice.logs.length, heard.carl.logs.length];
  const say = await sayLater('alice');
  await say();
  assert.equal(heard.alice.logs.length, before + 2);
  assert.equal(heard.carl.logs.length, carls, 'carl hears nothing once revoked');
});

test("a tenant switched off hears nothing its connections say: not their log messages, not its tasks' statuses", async () => {
  const mode = (...args: string[]) =>
    runCli(['mode', ...args, '--tenant', 'globex', '--reason', 'walk V', '-c', t.file]);
  const started = Date.now();
  const handle = (
    await clients.gina.request(
      { method: 'tools/call', params: { name: 'ci__deploy', arguments: { ms: 12_000 }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    )
  ).task.taskId;
  await eventually(() => heard.gina.statuses.some((s) => s.taskId === handle), { timeoutMs: 10_000 });
  const say = await sayLater('gina');
  assert.equal((await mode('set', 'disabled')).code, 0);
  // The CLI's start is the slow part on a loaded machine (several seconds): the task outlasts it.
  assert.ok(Date.now() - started < 11_000, 'the tenant was off before the task could end (a slow machine: retry)');
  await assert.rejects(call('gina', 'mt__whoami'), /unknown tool/);
  await say();
  await pause(started + 13_000 - Date.now()); // the task completed meanwhile
  assert.deepEqual(
    heard.gina.statuses.map((s) => s.status),
    ['working'],
    'no status of her task while the tenant is off',
  );
  assert.deepEqual(heard.gina.logs, [], "no log line of globex's process while the tenant is off");
  assert.equal((await mode('clear')).code, 0);
  const got = await clients.gina.request({ method: 'tasks/get', params: { taskId: handle } }, GetTaskResultSchema);
  assert.equal(got.status, 'completed', 'the task did end (the status was said, to nobody)');
  // Back on: she hears again.
  const again = await sayLater('gina');
  await again();
  assert.deepEqual(lines('gina'), ['error of globex', 'debug of globex']);
  noCanary('gina');
});

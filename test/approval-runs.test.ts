/**
 * A run's timeline tells the whole approval story, on the embedded store and on PostgreSQL: the call
 * that asked, the request, the diff read (or withheld) for the approver, the decision (on the page,
 * or by the CLI), the use. Two tenants' agents label their calls with the SAME run: each tenant's
 * admin sees its own tenant's story and nothing of the other's (CLI, admin API and console alike).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { FILESYSTEM, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { URL_ELICITATION, firstInputRequest, modernMeta, postModernCall, replyOf, type Reply } from './support/rpc.ts';
import { submitDecision } from './support/approval-page.ts';
import { createPgSchema, dropPgSchema, freshPgSchema, pgUrlWithSchema, requireService } from './support/services.ts';
import type { TimelineEntry } from '../src/audit/timeline.ts';
import { consoleCookie } from './support/console-cookie.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-approval-runs-'));
const schema = freshPgSchema();
const gateways: TestGateway[] = [];

before(async () => {
  await createPgSchema(schema).catch(() => {}); // PostgreSQL away: its test is skipped (requireService)
});
after(async () => {
  for (const g of gateways) await g.close();
  await dropPgSchema(schema).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

/** A gateway with a files server whose writes wait for a lead; acme may read its sandbox (the diff), globex may not. */
async function gateway(name: string, storage: string): Promise<{ t: TestGateway; sandbox: string }> {
  const dir = join(tmp, name);
  const sandbox = join(dir, 'sandbox');
  mkdirSync(sandbox, { recursive: true });
  const real = realpathSync(sandbox);
  writeFileSync(join(real, 'notes.txt'), 'alpha\n');
  writeFileSync(
    join(dir, 'policy.yaml'),
    [
      'resources:',
      "  - tool: 'files__*'",
      '    resource: { kind: path, arg: path }',
      'rules:',
      '  - id: acme-reads',
      '    subjects: { tenants: [acme] }',
      '    tools: [files__read_text_file]',
      `    resources: [${JSON.stringify(`${real}/*`)}]`,
      '    effect: allow',
      '  - id: writes-need-a-lead',
      '    subjects: { tenants: [acme, globex] }',
      '    tools: [files__write_file]',
      '    effect: approve',
      '    approvers: { roles: [lead], count: 1 }',
      '',
    ].join('\n'),
  );
  const t = await startGateway(
    `${stdioServer('files', FILESYSTEM, [real])}    tools: { write_file: { class: WRITE }, read_text_file: { class: READ } }\n`,
    {
      storage,
      top:
        `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(dir, 'policy.yaml'))}] }\n` +
        'approvals:\n  readTools: { files__write_file: files__read_text_file }\n',
    },
  );
  gateways.push(t);
  return { t, sandbox: real };
}

const PEOPLE = [
  ['agentA', 'acme', 'agent'],
  ['leadA', 'acme', 'lead'],
  ['adminA', 'acme', 'gatehouse-admin'],
  ['agentB', 'globex', 'agent'],
  ['leadB', 'globex', 'lead'],
  ['adminB', 'globex', 'gatehouse-admin'],
] as const;

type Keys = Record<(typeof PEOPLE)[number][0], string>;

async function keysFor(t: TestGateway): Promise<Keys> {
  const keys = {} as Keys;
  for (const [name, tenant, roles] of PEOPLE)
    keys[name] = await createKey(t.file, { name, tenant, person: name, roles, scopes: 'x' });
  return keys;
}

async function write(t: TestGateway, token: string, run: string, path: string, extra = {}): Promise<Reply> {
  const meta = { ...modernMeta(URL_ELICITATION), 'io.gatehouse/run': run };
  return replyOf(
    await postModernCall(
      t.url,
      'files__write_file',
      { path, content: 'omega\n' },
      { token, extra: { _meta: meta, ...extra } },
    ),
  );
}

/** The run as `gatehouse audit run <run> --as <admin> --json` shows it. */
async function cliRun(t: TestGateway, run: string, admin: string): Promise<TimelineEntry[]> {
  const r = await runCli(['audit', 'run', run, '--json', '--as', admin, '-c', t.file]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { entries: TimelineEntry[] }).entries;
}

/** The approval steps of a timeline, per approval id. */
function steps(entries: TimelineEntry[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of entries) if (e.approval) out[e.approval.id] = [...(out[e.approval.id] ?? []), e.approval.step];
  return out;
}

/** A console page for an admin signed in with `token`. */
async function consolePage(t: TestGateway, token: string, path: string): Promise<string> {
  const r = await fetch(`${t.url}${path}`, { headers: { cookie: await consoleCookie(t, token) } });
  assert.equal(r.status, 200, path);
  return r.text();
}

async function story(t: TestGateway, sandbox: string): Promise<void> {
  const keys = await keysFor(t);
  const run = `shared-run-${randomUUID()}`;
  // Both tenants' agents name the same run: the label is the caller's own, anyone may pick it.
  const a = await write(t, keys.agentA, run, join(sandbox, 'notes.txt'));
  const b = await write(t, keys.agentB, run, join(sandbox, 'globex.txt'));
  const idA = firstInputRequest(a).params.elicitationId as string;
  const idB = firstInputRequest(b).params.elicitationId as string;
  // acme's lead reads the diff (with the agent's rights) and approves on the page.
  const decided = await submitDecision(t.url, keys.leadA, idA, 'approve', 'fine');
  assert.equal(decided.answer.status, 200, decided.html);
  assert.match(decided.pageHtml, /alpha/, 'the diff shows the current content');
  // globex's lead opens the page (no diff: globex may not read) and denies from the CLI.
  const page = await fetch(`${t.url}/approvals/${idB}`, { headers: { authorization: `Bearer ${keys.leadB}` } });
  assert.equal(page.status, 200);
  await page.text();
  const denied = await runCli(['approvals', 'deny', idB, '--reason', 'no', '--as', keys.leadB, '-c', t.file]);
  assert.equal(denied.code, 0, denied.stderr);
  const retry = await write(t, keys.agentA, run, join(sandbox, 'notes.txt'), { requestState: a.result.requestState });
  assert.equal(retry.result?.resultType, 'complete', JSON.stringify(retry));

  const seenA = await cliRun(t, run, keys.adminA);
  assert.deepEqual(steps(seenA), { [idA]: ['requested', 'diff.read', 'approved', 'used'] });
  assert.ok(
    seenA.every((e) => e.actor?.endsWith('@acme')),
    JSON.stringify(seenA),
  );
  assert.ok(
    seenA.some((e) => e.kind === 'call.outcome' && e.outcome === 'ok'),
    'the call itself is there',
  );
  const seenB = await cliRun(t, run, keys.adminB);
  assert.deepEqual(steps(seenB), { [idB]: ['requested', 'diff.withheld', 'denied'] });
  assert.ok(
    seenB.every((e) => e.actor?.endsWith('@globex')),
    JSON.stringify(seenB),
  );
  assert.ok(!JSON.stringify(seenB).includes(idA) && !JSON.stringify(seenA).includes(idB));
  // The admin API and the console read the same timeline, for the same tenant only.
  const api = await fetch(`${t.url}/admin/v1/audit/runs/${encodeURIComponent(run)}`, {
    headers: { authorization: `Bearer ${keys.adminB}` },
  });
  assert.equal(api.status, 200);
  const viaApi = ((await api.json()) as { entries: TimelineEntry[] }).entries;
  assert.deepEqual(steps(viaApi), steps(seenB));
  const runPage = await consolePage(t, keys.adminA, `/console/audit/runs/${encodeURIComponent(run)}`);
  for (const step of ['requested', 'diff.read', 'approved', 'used'])
    assert.match(runPage, new RegExp(`<small>${step} `));
  assert.ok(runPage.includes(idA) && !runPage.includes(idB), 'the console shows acme its own story only');
  // The operator (every tenant) sees both stories in the one run.
  const all = await runCli(['audit', 'run', run, '--json', '-c', t.file]);
  const both = steps((JSON.parse(all.stdout) as { entries: TimelineEntry[] }).entries);
  assert.deepEqual(Object.keys(both).sort(), [idA, idB].sort());
  // A run label is each caller's own choice: the operator is told the run holds two tenants' callers,
  // and may look at one (walk AA: a caller could add its records to another tenant's run).
  assert.deepEqual((JSON.parse(all.stdout) as { tenants: string[] }).tenants, ['acme', 'globex']);
  const text = await runCli(['audit', 'run', run, '-c', t.file]);
  assert.match(
    text.stderr,
    /holds records of callers of 2 tenants \(acme, globex\): a run label is the caller's own choice/,
  );
  const onlyA = await runCli(['audit', 'run', run, '--tenant', 'acme', '--json', '-c', t.file]);
  const viewA = JSON.parse(onlyA.stdout) as { tenants: string[]; entries: TimelineEntry[] };
  assert.deepEqual([viewA.tenants, Object.keys(steps(viewA.entries))], [['acme'], [idA]]);
  const across = await runCli(['audit', 'run', run, '--tenant', 'acme', '--as', keys.adminB, '-c', t.file]);
  assert.equal(across.code, 2);
  assert.match(across.stderr, /--tenant: you administer tenant `globex` only/);
  // A request stored before the run was kept with it (its body has no runId) is decided as before;
  // its decision names no run.
  const { runId: _gone, ...old } = (await t.gw.store.approvals.get(idB))!;
  const oldId = `apr_${randomUUID().replace(/-/g, '').slice(0, 22)}`;
  await t.gw.store.approvals.create({ ...old, id: oldId, status: 'pending', decisions: [] });
  const late = await runCli(['approvals', 'deny', oldId, '--as', keys.leadB, '-c', t.file]);
  assert.equal(late.code, 0, late.stderr);
  const rec = (await t.gw.store.audit.read({ kind: 'approval.event', limit: 1000 })).find(
    (r) => r.event.approval?.id === oldId,
  );
  assert.deepEqual([rec?.event.detail?.event, rec?.event.runId], ['denied', undefined]);
}

test('SQLite: a run shows its approvals from request to use, each tenant its own', async () => {
  const { t, sandbox } = await gateway('sqlite', '');
  await story(t, sandbox);
});

test('PostgreSQL: a run shows its approvals from request to use, each tenant its own', async (c: TestContext) => {
  if (!(await requireService(c, 'postgres'))) return;
  const url = pgUrlWithSchema(schema);
  const { t, sandbox } = await gateway('pg', `storage:\n  driver: postgres\n  postgresUrl: ${JSON.stringify(url)}\n`);
  assert.equal(t.gw.store.driver, 'postgres');
  await story(t, sandbox);
});

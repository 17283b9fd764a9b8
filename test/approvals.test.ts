/**
 * Human approvals end to end: API-key principals -> Gatehouse with a policy that asks for approval ->
 * a recording upstream that counts what ran. The legacy and modern flows, the page (HTML forms with a
 * CSRF token), the CLI, the signed webhook, and every bypass: changed arguments, replay, 20 concurrent
 * uses of one approval, self-approval, another tenant's approver, an expired approval, a changed
 * policy revision, the agent's own elicitation answer, one person counted twice, the pending cap.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import {
  URL_ELICITATION,
  firstInputRequest,
  initializeRequest,
  modernMeta,
  postLegacy,
  postModernCall,
  replyOf,
  type Reply,
} from './support/rpc.ts';
import { eventually } from './support/eventually.ts';
import { submitDecision } from './support/approval-page.ts';
import { consoleCookie } from './support/console-cookie.ts';
import { verify } from '../src/approvals/webhook.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-approvals-'));
const rec = join(tmp, 'rec.jsonl');
const hooks: Array<{ body: string; ok: boolean }> = [];
const HOOK_SECRET = 'webhook-secret-0123456789';
let t: TestGateway;
let closeReceiver = async () => {};
const keys: Record<string, string> = {};
const ran = (tool: string, note?: string) => linesWith(rec, '"tools/call"', `"${tool}"`, note ?? '');

const servers = (file: string) =>
  stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
  `    env: { RECORD_FILE: ${JSON.stringify(file)} }\n    tools: { record: { class: READ }, other: { class: WRITE }, open_issue: { class: DESTRUCTIVE } }\n`;

before(async () => {
  const receiver = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    hooks.push({
      body,
      ok: verify(req.headers as Record<string, string>, body, HOOK_SECRET, Math.floor(Date.now() / 1000)),
    });
    res.end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  closeReceiver = () => new Promise<void>((r) => receiver.close(() => r()));
  const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  t = await startGateway(servers(rec), {
    top:
      `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(ROOT, 'test/fixtures/policy/approvals.yaml'))}] }\n` +
      `approvals:\n  maxPendingPerPrincipal: 5\n  templates: { rec__other: "Record the note {note}" }\n  webhook: { url: ${JSON.stringify(hookUrl)}, secret: ${HOOK_SECRET} }\n` +
      // A call carrying a credential waits for a person instead of being refused: the chat hears of it.
      'secrets: { outbound: approve }\n',
  });
  for (const [name, tenant, roles] of [
    ['agent', 'acme', 'agent'],
    ['lead1', 'acme', 'lead'],
    ['lead2', 'acme', 'lead'],
    ['glead', 'globex', 'lead'],
    ['spammer', 'acme', 'agent'],
    ['racer', 'acme', 'agent'],
    ['teller', 'acme', 'agent'],
    ['asker', 'acme', 'agent'],
    ['gasker', 'globex', 'agent'],
  ]) {
    keys[name] = await createKey(t.file, { name, tenant, person: name, roles, scopes: 'x' });
  }
});
after(async () => {
  await t?.close();
  await closeReceiver();
  rmSync(tmp, { recursive: true, force: true });
});

async function modern(
  who: string,
  name: string,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  g = t,
): Promise<Reply> {
  return replyOf(await postModernCall(g.url, name, args, { token: keys[who], capabilities: URL_ELICITATION, extra }));
}
async function legacySession(who: string): Promise<string> {
  const r = await postLegacy(t.url, initializeRequest('l'), { token: keys[who] });
  return r.headers.get('mcp-session-id')!;
}
async function legacy(
  who: string,
  sid: string,
  name: string,
  args: Record<string, unknown>,
  meta: Record<string, unknown> = {},
): Promise<Reply> {
  const call = {
    jsonrpc: '2.0',
    id: randomUUID(),
    method: 'tools/call',
    params: { name, arguments: args, _meta: meta },
  };
  return replyOf(await postLegacy(t.url, call, { sid, token: keys[who] }));
}
/** Decide on the page as `who`: GET the page (for the CSRF token), POST the form. */
async function decideOnPage(
  who: string,
  id: string,
  decision: 'approve' | 'deny',
  reason = '',
): Promise<{ status: number; html: string }> {
  const d = await submitDecision(t.url, keys[who], id, decision, reason);
  return { status: d.answer.status, html: d.html };
}

test('legacy: the call returns the pending approval; approved on the page; the retry runs exactly once; a replay is refused', async () => {
  const sid = await legacySession('agent');
  const note = `legacy-${randomUUID()}`;
  const first = await legacy('agent', sid, 'rec__other', { note });
  const pending = first.result._meta['io.gatehouse/approval'] as { id: string };
  assert.equal(first.result.isError, true);
  assert.match(
    first.result.content[0].text,
    /needs a person's approval\. Approval apr_\S+ is pending at http:\/\/127\.0\.0\.1:\d+\/approvals\/apr_/,
  );
  assert.equal(ran('other', note), 0, 'nothing ran');
  const page = await (
    await fetch(`${t.url}/approvals/${pending.id}`, { headers: { authorization: `Bearer ${keys.lead1}` } })
  ).text();
  assert.match(page, new RegExp(`Record the note ${note}`));
  assert.match(page, /rec__other/);
  const decided = await decideOnPage('lead1', pending.id, 'approve', 'looks fine');
  assert.equal(decided.status, 200, decided.html);
  assert.match(decided.html, /Recorded: approved by lead1/);
  const retry = await legacy('agent', sid, 'rec__other', { note }, { 'io.gatehouse/approval': pending.id });
  assert.ok(retry.result && !retry.result.isError, JSON.stringify(retry));
  assert.equal(ran('other', note), 1, 'ran once');
  const replay = await legacy('agent', sid, 'rec__other', { note }, { 'io.gatehouse/approval': pending.id });
  assert.equal(replay.error.code, -32001);
  assert.match(replay.error.message, /cannot be used for this call/);
  assert.equal(ran('other', note), 1, 'still once');
  const audit = (await t.gw.store.audit.read({ kind: 'approval.event', limit: 1000 }))
    .map((x) => x.event)
    .filter((e) => e.approval?.id === pending.id);
  assert.deepEqual(
    audit.map((e) => e.detail?.event),
    ['requested', 'approved', 'used', 'refused'],
  );
  assert.equal(audit[1].actor?.subject, 'lead1');
  // Every one is the tenant's: its admin's audit search (by the tenant column, the actor's) finds them all.
  assert.deepEqual(
    audit.map((e) => [e.actor?.tenant, e.actor?.via]),
    [
      ['acme', 'requester'],
      ['acme', 'approver'],
      ['acme', 'requester'],
      ['acme', 'requester'],
    ],
  );
  assert.equal(audit[0].actor?.subject, 'agent');
  // Every record is in the call's run (its session), the approver's decision too: the run timeline shows the approval.
  assert.deepEqual(
    audit.map((e) => e.runId),
    [sid, sid, sid, sid],
  );
  const run = (await t.gw.store.audit.read({ runId: sid, limit: 1000 })).map((x) => x.event);
  assert.ok(run.some((e) => e.kind === 'approval.event' && e.detail?.event === 'requested'));
  const tenants = (await t.gw.store.audit.read({ kind: 'approval.event', tenant: 'acme', limit: 1000 })).filter(
    (x) => x.event.approval?.id === pending.id,
  );
  assert.equal(tenants.length, 4, 'found by the tenant');
  await eventually(() => hooks.some((h) => h.body.includes(pending.id)), { timeoutMs: 10_000, intervalMs: 50 });
  const hook = hooks.find((h) => h.body.includes(pending.id))!;
  assert.ok(hook.ok, 'the webhook is signed');
  assert.match(JSON.parse(hook.body).text, /approvals\/apr_/);
});

test('modern: input_required with a URL elicitation and a sealed requestState; approved through the CLI; the retry runs', async () => {
  const note = `modern-${randomUUID()}`;
  const first = await modern('agent', 'rec__other', { note });
  assert.equal(first.result.resultType, 'input_required');
  const [req] = Object.values(first.result.inputRequests);
  assert.equal(req.method, 'elicitation/create');
  assert.equal(req.params.mode, 'url');
  assert.match(req.params.url, /\/approvals\/apr_/);
  const id = req.params.elicitationId;
  // The agent accepting its own elicitation is not an approval.
  const early = await modern(
    'agent',
    'rec__other',
    { note },
    { requestState: first.result.requestState, inputResponses: { [`approval-${id}`]: { action: 'accept' } } },
  );
  assert.match(early.error.message, /cannot be used for this call/);
  const tampered = await modern(
    'agent',
    'rec__other',
    { note },
    { requestState: first.result.requestState.replace(/.$/, (c: string) => (c === 'A' ? 'B' : 'A')) },
  );
  assert.ok(tampered.error);
  // Without --role the operator is told which role the request needs, and how to give it.
  const roleless = await runCli(['approvals', 'approve', id, '--by', 'lead-on-call', '-c', t.file]);
  assert.equal(roleless.code, 2);
  assert.match(
    roleless.stderr,
    /not recorded: you are not an approver for this request: it needs role lead; you hold no role \(`--role` not given\): give the role you hold with `--role lead`/,
  );
  const cli = await runCli([
    'approvals',
    'approve',
    id,
    '--role',
    'lead',
    '--by',
    'lead-on-call',
    '--reason',
    'ok',
    '-c',
    t.file,
  ]);
  assert.equal(cli.code, 0, cli.stderr);
  const shown = await runCli(['approvals', 'show', id, '-c', t.file]);
  assert.match(shown.stdout, /approve by lead-on-call/);
  // The retry adds a key to `_meta` the approver never saw (a server could act on it): it is dropped.
  const retry = await modern(
    'agent',
    'rec__other',
    { note },
    {
      requestState: first.result.requestState,
      _meta: {
        ...modernMeta(URL_ELICITATION),
        'com.example/override': { dryRun: false },
        'io.gatehouse/run': 'my-run',
      },
    },
  );
  assert.equal(retry.result.resultType, 'complete', JSON.stringify(retry));
  assert.equal(ran('other', note), 1);
  // The approval's sealed state is the gateway's: the upstream receives the approved call without it.
  const sent = readFileSync(rec, 'utf8')
    .split('\n')
    .filter((l) => l.includes(note));
  assert.ok(
    sent.every(
      (l) =>
        !l.includes('requestState') &&
        !l.includes('inputResponses') &&
        !l.includes('com.example/override') &&
        !l.includes('io.gatehouse/'),
    ),
    sent.join('\n'),
  );
});

test("a page's form is bound to the sign-in it was loaded with: another console session or credential of the same person cannot post it (walk AA)", async () => {
  const first = await modern('agent', 'rec__other', { note: `bound-${randomUUID()}` });
  const id = firstInputRequest(first).params.elicitationId;
  const [one, two] = [await consoleCookie(t, keys.lead1), await consoleCookie(t, keys.lead1)];
  const page = await fetch(`${t.url}/approvals/${id}`, { headers: { cookie: one } });
  const token = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(token, 'the page has a form');
  const post = (headers: Record<string, string>) =>
    fetch(`${t.url}/approvals/${id}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: token, decision: 'deny' }).toString(),
    });
  for (const [what, headers] of [
    ['the next console session', { cookie: two }],
    ["the person's API key", { authorization: `Bearer ${keys.lead1}` }],
  ] as const) {
    const r = await post(headers);
    assert.equal(r.status, 403, what);
    assert.match(await r.text(), /This form has expired: reload the page and decide again\./, what);
  }
  assert.equal((await t.gw.store.approvals.get(id))?.status, 'pending', 'nothing recorded');
  const r = await post({ cookie: one });
  assert.equal(r.status, 200, await r.text());
  assert.equal((await t.gw.store.approvals.get(id))?.status, 'denied');
});

test('bypasses: changed arguments, self-approval, another tenant, one person twice, expiry, a new policy revision, 20 concurrent uses', async () => {
  const note = `bypass-${randomUUID()}`;
  const first = await modern('agent', 'rec__other', { note });
  const id = firstInputRequest(first).params.elicitationId;
  const state = first.result.requestState;
  // The requester cannot approve, and is told why (it knows the id: its call's answer gave it), but
  // shown nothing of the request: no arguments, no form.
  const self = await submitDecision(t.url, keys.agent, id, 'approve');
  assert.deepEqual([self.page.status, self.answer.status], [403, 403]);
  for (const html of [self.pageHtml, self.html]) {
    assert.match(
      html,
      /You asked for this call: you cannot approve or deny your own request; someone else must decide it\./,
    );
    assert.doesNotMatch(html, new RegExp(`${note}|name="csrf"|rec__other`));
  }
  const selfCli = await runCli(['approvals', 'approve', id, '--as', keys.agent, '-c', t.file]);
  assert.equal(selfCli.code, 2);
  assert.match(selfCli.stderr, /not recorded: you asked for this call: you cannot approve or deny your own request/);
  // Signed in to the console, the same (the console lends its session to the approval page).
  const cookie = await consoleCookie(t, keys.agent);
  const viaConsole = await fetch(`${t.url}/approvals/${id}`, { headers: { cookie } });
  assert.equal(viaConsole.status, 403);
  assert.match(await viaConsole.text(), /You asked for this call/);
  // Anyone else who may not decide it learns nothing, whether it exists or not: another tenant's
  // approver, another agent of the tenant, and the requester itself asking for an id that is not there.
  const missing = `apr_${'x'.repeat(22)}`;
  for (const [who, which] of [
    ['glead', id],
    ['racer', id],
    ['agent', missing],
    ['glead', missing],
  ]) {
    const page = await decideOnPage(who, which, 'approve');
    assert.equal(page.status, 404, `${who} ${which}`);
    assert.doesNotMatch(page.html, /your own request/);
    const cli = await runCli(['approvals', 'approve', which, '--as', keys[who], '-c', t.file]);
    assert.equal(cli.code, 2);
    assert.equal(cli.stderr, 'gatehouse: not recorded: no such request\n', `${who} ${which}`);
  }
  assert.equal((await decideOnPage('lead1', id, 'approve')).status, 200);
  // Another person of the tenant presenting it learns nothing of it: no such approval, as across tenants.
  const stranger = await modern('racer', 'rec__other', { note }, { requestState: state });
  assert.match(stranger.error.message, /no such approval/);
  assert.doesNotMatch(stranger.error.message, /requester|differs/);
  // Arguments changed after the approval: refused.
  const changed = await modern('agent', 'rec__other', { note: `${note}-changed` }, { requestState: state });
  assert.match(changed.error.message, /cannot be used for this call/);
  // 20 concurrent uses of one approval: exactly one runs.
  const racers = await Promise.all(
    Array.from({ length: 20 }, () => modern('agent', 'rec__other', { note }, { requestState: state })),
  );
  assert.equal(racers.filter((r) => r.result?.resultType === 'complete').length, 1);
  assert.equal(ran('other', note), 1, 'exactly one upstream call');

  // Two leads for DESTRUCTIVE: the same lead twice is still one.
  const issue = await modern('agent', 'rec__open_issue', { owner: 'acme', repo: 'widgets', title: 'two' });
  const iid = firstInputRequest(issue).params.elicitationId;
  assert.equal((await decideOnPage('lead1', iid, 'approve')).status, 200);
  assert.equal((await decideOnPage('lead1', iid, 'approve')).status, 403, 'already decided');
  assert.match(
    (
      await modern(
        'agent',
        'rec__open_issue',
        { owner: 'acme', repo: 'widgets', title: 'two' },
        { requestState: issue.result.requestState },
      )
    ).error.message,
    /cannot be used/,
  );
  assert.equal((await decideOnPage('lead2', iid, 'approve')).status, 200);
  assert.equal(
    (
      await modern(
        'agent',
        'rec__open_issue',
        { owner: 'acme', repo: 'widgets', title: 'two' },
        { requestState: issue.result.requestState },
      )
    ).result.resultType,
    'complete',
  );

  // Expired: the approval's time is up (as if an hour passed).
  const late = await modern('agent', 'rec__other', { note: `${note}-late` });
  const lid = firstInputRequest(late).params.elicitationId;
  await decideOnPage('lead1', lid, 'approve');
  const stored = (await t.gw.store.approvals.get(lid))!;
  await t.gw.store.approvals.transition({ ...stored, expiresAt: Date.now() - 1 }, 'approved');
  assert.match(
    (await modern('agent', 'rec__other', { note: `${note}-late` }, { requestState: late.result.requestState })).error
      .message,
    /expired/,
  );

  // A new policy revision (or a re-accepted tool definition) needs a new approval.
  const again = await modern('agent', 'rec__other', { note: `${note}-rev` });
  const rid = firstInputRequest(again).params.elicitationId;
  await decideOnPage('lead1', rid, 'approve');
  const r0 = (await t.gw.store.approvals.get(rid))!;
  await t.gw.store.approvals.transition({ ...r0, policyRevision: 'an-older-revision' }, 'approved');
  assert.match(
    (await modern('agent', 'rec__other', { note: `${note}-rev` }, { requestState: again.result.requestState })).error
      .message,
    /cannot be used/,
  );
  // A tool definition changed (and re-accepted) after the approval: its pin no longer matches.
  const pinned = await modern('agent', 'rec__other', { note: `${note}-pin` });
  const pid = firstInputRequest(pinned).params.elicitationId;
  await decideOnPage('lead1', pid, 'approve');
  const p0 = (await t.gw.store.approvals.get(pid))!;
  await t.gw.store.approvals.transition({ ...p0, pin: 'sha256:the-definition-that-was-approved' }, 'approved');
  assert.match(
    (await modern('agent', 'rec__other', { note: `${note}-pin` }, { requestState: pinned.result.requestState })).error
      .message,
    /cannot be used/,
  );
  assert.equal(
    ran('other', `${note}-late`) +
      ran('other', `${note}-rev`) +
      ran('other', `${note}-changed`) +
      ran('other', `${note}-pin`),
    0,
  );
});

test('`approvals show --as` the requester: told the request is its own, shown nothing; another requester, of its tenant or another, learns nothing', async () => {
  const note = `show-own-${randomUUID()}`;
  const mine = firstInputRequest(await modern('asker', 'rec__other', { note })).params.elicitationId;
  const theirs = firstInputRequest(await modern('gasker', 'rec__other', { note })).params.elicitationId;
  const colleague = firstInputRequest(await modern('racer', 'rec__other', { note })).params.elicitationId;
  const show = (id: string, who: string, ...more: string[]) =>
    runCli(['approvals', 'show', id, ...more, '--as', keys[who], '-c', t.file]);
  // The failure, as a line on stderr or with --json an object on stdout (and nothing else).
  const failure = (r: { code: number; stdout: string; stderr: string }, json: boolean) => {
    assert.equal(r.code, 2);
    assert.equal(json ? r.stderr : r.stdout, '');
    if (!json) return r.stderr;
    const o = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(o).sort(), ['error', 'exitCode']);
    return `gatehouse: ${o.error}\n`;
  };
  for (const json of [false, true]) {
    const flags = json ? ['--json'] : [];
    assert.equal(
      failure(await show(mine, 'asker', ...flags), json),
      'gatehouse: not shown: you asked for this call: you cannot approve or deny your own request; someone else must decide it.\n',
    );
    // Another tenant's request, a colleague's, one the asker's own requests' tenant holds for
    // others, and an id that is not there read alike: nothing tells that a request exists.
    const missing = `apr_${'y'.repeat(22)}`;
    for (const [id, who] of [
      [theirs, 'asker'],
      [colleague, 'asker'],
      [mine, 'gasker'],
      [mine, 'racer'],
      [missing, 'asker'],
    ]) {
      const r = failure(await show(id, who, ...flags), json);
      assert.equal(r, `gatehouse: no approval request \`${id}\`\n`, `${who} ${id}`);
    }
  }
  // An approver of the tenant is shown it; the requester's list holds none of the three.
  const lead = await show(mine, 'lead1', '--json');
  assert.equal(lead.code, 0, lead.stderr);
  assert.equal(JSON.parse(lead.stdout).id, mine);
  const listed = JSON.parse((await runCli(['approvals', 'list', '--json', '--as', keys.asker, '-c', t.file])).stdout);
  assert.deepEqual(
    (listed.approvals as Array<{ id: string }>).filter((a) => [mine, theirs, colleague].includes(a.id)),
    [],
  );
});

test('a denied call never runs; flooding is capped; hostile arguments are shown escaped and marked', async () => {
  const note = '<script>alert(1)</script> \u202Egnp.exe';
  const r = await modern('agent', 'rec__other', { note });
  const id = firstInputRequest(r).params.elicitationId;
  const page = await (
    await fetch(`${t.url}/approvals/${id}`, { headers: { authorization: `Bearer ${keys.lead1}` } })
  ).text();
  assert.ok(!page.includes('<script>alert'), 'escaped');
  assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(page, /⟨U\+202E⟩/);
  assert.equal((await decideOnPage('lead1', id, 'deny', 'no')).status, 200);
  assert.match(
    (await modern('agent', 'rec__other', { note }, { requestState: r.result.requestState })).error.message,
    /cannot be used/,
  );
  assert.equal(ran('other', 'alert(1)'), 0);
  const results = [];
  for (let i = 0; i < 7; i++) results.push(await modern('spammer', 'rec__other', { note: `spam-${i}` }));
  assert.equal(results.filter((x) => x.result?.resultType === 'input_required').length, 5);
  assert.match(results[6].error.message, /too many of your calls are waiting for approval/);
});

test('the approver sees the secret-looking argument that will run; the chat webhook gets it redacted', async () => {
  const token = `token=Zq8${randomUUID().slice(0, 8)}wX`;
  const first = await modern('racer', 'rec__other', { note: token });
  assert.ok(first.result, JSON.stringify(first));
  const id = firstInputRequest(first).params.elicitationId;
  const page = await (
    await fetch(`${t.url}/approvals/${id}`, { headers: { authorization: `Bearer ${keys.lead1}` } })
  ).text();
  assert.ok(page.includes(token), 'the page shows what will run');
  await eventually(() => hooks.some((h) => h.body.includes(id)), { timeoutMs: 10_000, intervalMs: 50 });
  const hook = hooks.find((h) => h.body.includes(id))!;
  assert.ok(!hook.body.includes(token), 'the webhook does not carry it');
});

test('a secret the one-line summary would cut in two is still redacted for the chat webhook', async () => {
  // The summary cuts each value at 80 characters: this GitHub token starts just before the cut.
  const token = `ghp_${randomUUID().replace(/-/g, '')}abcd`;
  const note = `${'n'.repeat(70)} ${token}`;
  const first = await modern('teller', 'rec__other', { note });
  assert.ok(first.result, JSON.stringify(first));
  const id = firstInputRequest(first).params.elicitationId;
  await eventually(() => hooks.some((h) => h.body.includes(id)), { timeoutMs: 10_000, intervalMs: 50 });
  const hook = hooks.find((h) => h.body.includes(id))!;
  assert.ok(!hook.body.includes(token.slice(0, 8)), hook.body);
});

test('a decision made through one gateway is honoured by another sharing the store', async () => {
  const dir = mkdtempSync(join(tmp, 'shared-'));
  const storage = `storage: { sqlitePath: ${JSON.stringify(join(dir, 'shared.db'))} }\n`;
  const topYaml = `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(ROOT, 'test/fixtures/policy/approvals.yaml'))}] }\n`;
  const [a, b] = [
    await startGateway(servers(join(dir, 'a.jsonl')), { storage, top: topYaml }),
    await startGateway(servers(join(dir, 'b.jsonl')), { storage, top: topYaml }),
  ];
  try {
    for (const [name, roles] of [
      ['racer', 'agent'],
      ['lead1', 'lead'],
    ]) {
      keys[`${name}-x`] = await createKey(a.file, {
        name: `${name}-x`,
        tenant: 'acme',
        person: name,
        roles,
        scopes: 'x',
      });
    }
    const first = await modern('racer-x', 'rec__other', { note: 'shared' }, {}, a);
    const id = firstInputRequest(first).params.elicitationId;
    assert.equal((await runCli(['approvals', 'approve', id, '--role', 'lead', '-c', b.file])).code, 0);
    const retry = await modern(
      'racer-x',
      'rec__other',
      { note: 'shared' },
      { requestState: first.result.requestState },
      b,
    );
    assert.equal(retry.result.resultType, 'complete', JSON.stringify(retry));
    assert.equal(linesWith(join(dir, 'b.jsonl'), '"shared"'), 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('legacy client with URL elicitation: shown the page, the call waits for the decision, then runs once', async () => {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { ElicitRequestSchema, ElicitationCompleteNotificationSchema } = await import(
    '@modelcontextprotocol/sdk/types.js'
  );
  const c = new Client({ name: 'legacy-url', version: '1' }, { capabilities: { elicitation: { url: {}, form: {} } } });
  const shown: string[] = [];
  const asked: string[] = [];
  const completed: string[] = [];
  c.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
    completed.push(n.params.elicitationId);
  });
  c.setRequestHandler(ElicitRequestSchema, async (req) => {
    const p = req.params as { mode?: string; url?: string; elicitationId?: string };
    shown.push(p.url ?? '');
    if (p.elicitationId) asked.push(p.elicitationId);
    // The person behind the agent opens the page; a lead (someone else) approves there.
    if (p.elicitationId) await decideOnPage('lead1', p.elicitationId, 'approve');
    return { action: 'accept' };
  });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${keys.agent}` } },
    }),
  );
  const note = `elicited-${randomUUID()}`;
  const r = await c.callTool({ name: 'rec__other', arguments: { note } });
  assert.ok(!r.isError, JSON.stringify(r));
  assert.match(shown[0], /\/approvals\/apr_/);
  assert.equal(ran('other', note), 1);
  // Decided on the page: the client is told that what it opened is done (2025-11-25), under the id it was asked with.
  assert.deepEqual(completed, asked);
  assert.match(completed[0] ?? '', /^apr_/);
  await c.close();
});

test('legacy client without URL elicitation, approvals.waitSeconds set: the call waits with progress, then runs once approved', async () => {
  const dir = mkdtempSync(join(tmp, 'wait-'));
  const file = join(dir, 'rec.jsonl');
  const g = await startGateway(servers(file), {
    top: `identity: { apiKeys: true }\npolicy: { files: [${JSON.stringify(join(ROOT, 'test/fixtures/policy/approvals.yaml'))}] }\napprovals: { waitSeconds: 20 }\n`,
  });
  try {
    const k: Record<string, string> = {};
    for (const [name, roles] of [
      ['waiter', 'agent'],
      ['boss', 'lead'],
    ])
      k[name] = await createKey(g.file, { name, tenant: 'acme', person: name, roles, scopes: 'x' });
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
    const c = new Client({ name: 'waiter', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${k.waiter}` } },
      }),
    );
    const progress: string[] = [];
    const call = c.callTool({ name: 'rec__other', arguments: { note: 'waited' } }, undefined, {
      onprogress: (p) => progress.push(String(p.message)),
      timeout: 30_000,
    });
    const pending = await eventually(async () => (await g.gw.store.approvals.list({ status: 'pending' }))[0]);
    assert.ok(pending, 'a request was made');
    // The gateway looks at the request again and again (a progress notification each time) and runs nothing.
    await eventually(() => progress.length >= 3);
    assert.equal(readFileSync(file, 'utf8').includes('"waited"'), false, 'nothing ran while waiting');
    assert.equal(
      (await runCli(['approvals', 'approve', pending.id, '--role', 'lead', '--by', 'boss', '-c', g.file])).code,
      0,
    );
    const r = await call;
    assert.ok(!r.isError, JSON.stringify(r));
    assert.ok(
      progress.some((m) => m.includes(`waiting for approval ${pending.id}`)),
      'progress named the approval',
    );
    assert.equal(linesWith(file, '"waited"'), 1, 'ran once');
    await c.close();
  } finally {
    await g.close();
  }
});

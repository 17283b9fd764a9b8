/**
 * The incident drill: the whole playbook, command by command, against a live gateway with a
 * misbehaving tool. open (the tool is refused as unknown as soon as the command returns, and every
 * live gateway confirmed before the command returns), revoke (the server's brokered credential, confirmed; its
 * other tools stop too), export + verify (and a tampered bundle fails), notify (a real SMTP server and
 * a signed webhook receiver on loopback get the notice; a failed delivery is retried), status, close.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verify as verifySignature } from '../src/approvals/webhook.ts';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-drill-'));
const rec = join(tmp, 'rec.jsonl');
const SECRET = 'drill-webhook-secret-0123456789';
process.env.INCIDENT_DRILL_TOKEN = 'drill-token-value-7f3a';

const mails: Array<{ from: string; to: string[]; body: string }> = [];
const hooks: Array<{ verified: boolean; body: string }> = [];
let hookFailures = 1; // the first delivery fails: the notice must be retried
let smtp: SMTPServer;
let hook: Server;
let t: TestGateway;
let c: Client;
let id = '';

before(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, done) {
      let body = '';
      stream.on('data', (d: Buffer) => (body += d.toString()));
      stream.on('end', () => {
        // The text is quoted-printable: soft line breaks and `=` escapes undone.
        const text = body
          .replace(/=\r\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          body: text,
        });
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (hookFailures-- > 0) return void res.writeHead(503).end();
      hooks.push({
        verified: verifySignature(req.headers as Record<string, string>, body, SECRET, Date.now() / 1000),
        body,
      });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/incident`;
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n` +
      '    credentials: { env: { REC_TOKEN: "env:INCIDENT_DRILL_TOKEN" } }\n' +
      '    owner: owners@example.test\n' +
      `    contact: { email: [oncall@example.test], webhook: { url: ${JSON.stringify(hookUrl)}, secret: ${SECRET} } }\n` +
      '    tools: { record: { class: READ }, other: { class: WRITE } }\n',
  );
  c = new Client({ name: 'drill', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});

after(async () => {
  await c?.close();
  await t?.close();
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
  rmSync(tmp, { recursive: true, force: true });
});

const cli = async (...args: string[]) => runCli([...args, '-c', t.file]);
const json = <T>(r: { code: number; stdout: string; stderr: string }): T => {
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

test('the drill: open, revoke, export + verify, notify, status, close', async (s) => {
  // The misbehaving tool runs (its calls are what the evidence must show).
  for (const note of ['rm -rf one', 'rm -rf two']) await c.callTool({ name: 'rec__other', arguments: { note } });

  await s.test('open: contained and confirmed by every live gateway; the tool is unknown at once', async () => {
    const r = json<{
      incident: { id: string; status: string };
      containment: { confirmed: boolean; gateways: number; timeToEffectMs: number; target: string };
    }>(
      await cli(
        'incident',
        'open',
        '--title',
        'rec__other deletes things',
        '--tool',
        'rec__other',
        '--reason',
        'it ran rm -rf',
        '--by',
        'oncall',
        '--json',
      ),
    );
    id = r.incident.id;
    assert.match(id, /^inc_[0-9a-f]{12}$/);
    assert.equal(r.incident.status, 'open');
    assert.equal(r.containment.target, 'tool:rec__other=disabled');
    assert.equal(r.containment.confirmed, true);
    assert.equal(r.containment.gateways, 1);
    // Confirmed: every live gateway acknowledged before the command returned, so the very next call
    // is refused (below). The time it took is reported, a measurement and not a bound to assert.
    assert.ok(Number.isInteger(r.containment.timeToEffectMs) && r.containment.timeToEffectMs >= 0);
    const before = readFileSync(rec, 'utf8');
    await assert.rejects(c.callTool({ name: 'rec__other', arguments: { note: 'again' } }), /unknown tool `rec__other`/);
    assert.equal(readFileSync(rec, 'utf8'), before, 'nothing reached the upstream');
    assert.ok(!(await c.listTools()).tools.some((x) => x.name === 'rec__other'));
    const text = await cli('incident', 'status', id);
    assert.match(text.stdout, /status: +open/);
  });

  await s.test("revoke: the server's credential, confirmed by the live gateway; its other tools stop too", async () => {
    await c.callTool({ name: 'rec__record', arguments: { note: 'still fine before revoke' } });
    const r = json<{
      servers: string[];
      credentials: Array<{ ref: string; confirmed: boolean; timeToEffectMs: number; revokedAt: string }>;
      confirmed: boolean;
    }>(await cli('incident', 'revoke', id, '--by', 'oncall', '--json'));
    assert.deepEqual(r.servers, ['rec']);
    assert.deepEqual(
      r.credentials.map((x) => [x.ref, x.confirmed]),
      [['env:INCIDENT_DRILL_TOKEN', true]],
    );
    assert.ok(r.confirmed);
    const after = await c.callTool({ name: 'rec__record', arguments: { note: 'after revoke' } }).then(
      (x) => JSON.stringify(x),
      (e: Error) => e.message,
    );
    assert.match(after, /revoked/);
    const listed = json<{ revoked: Array<{ ref: string }> }>(
      await runCli(['credentials', 'list', '--json', '-c', t.file]),
    );
    assert.ok(listed.revoked.some((x) => x.ref === 'env:INCIDENT_DRILL_TOKEN'));
  });

  await s.test('export + verify: a signed bundle that verifies offline; any tampering fails it', async () => {
    const dir = join(tmp, 'bundle');
    const r = json<{ dir: string; records: number; runs: number; keyId: string }>(
      await cli('incident', 'export', id, '--out', dir, '--json'),
    );
    assert.ok(r.records > 0);
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    assert.match(audit, /rm -rf one|"tool":"rec__other"/, 'the misbehaving calls are in the window');
    const timelines = JSON.parse(readFileSync(join(dir, 'timelines.json'), 'utf8')) as {
      runs: Array<{ entries: Array<{ tool?: string }> }>;
    };
    assert.ok(
      timelines.runs.some((x) => x.entries.some((e) => e.tool === 'rec__other')),
      "the affected session's run is reconstructed",
    );
    const policy = JSON.parse(readFileSync(join(dir, 'policy.json'), 'utf8')) as {
      runtimeModes: Array<{ scope: string }>;
    };
    assert.ok(policy.runtimeModes.some((m) => m.scope === 'tool:rec__other'));
    assert.match(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).sha256, /^[0-9a-f]{64}$/);
    const ok = await runCli(['incident', 'verify', dir, '--trust-key', r.keyId]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok: incident ${id}`));
    assert.doesNotMatch(ok.stdout, /any valid signature counts/);
    // Without a trusted key the check says what it did not check.
    const anyKey = await runCli(['incident', 'verify', dir]);
    assert.equal(anyKey.code, 0, anyKey.stdout + anyKey.stderr);
    assert.match(anyKey.stdout, /any valid signature counts: .* pass --trust-key/);

    const edited = join(tmp, 'edited');
    cpSync(dir, edited, { recursive: true });
    writeFileSync(join(edited, 'audit.jsonl'), audit.replace('rm -rf one', 'ls -la one'));
    const bad = await runCli(['incident', 'verify', edited, '--json']);
    assert.equal(bad.code, 1);
    const report = JSON.parse(bad.stdout) as { ok: boolean; problems: Array<{ file: string; problem: string }> };
    assert.ok(report.problems.some((p) => p.file === 'audit.jsonl' && /altered/.test(p.problem)));
    assert.ok(
      report.problems.some((p) => p.file === 'audit.jsonl' && /edited/.test(p.problem)),
      'the record no longer matches its hash',
    );

    // Rewriting the manifest's digest to match does not help: the signature covers the entries.
    const manifest = JSON.parse(readFileSync(join(edited, 'manifest.json'), 'utf8'));
    const { createHash } = await import('node:crypto');
    manifest.files['audit.jsonl'] = createHash('sha256')
      .update(readFileSync(join(edited, 'audit.jsonl')))
      .digest('hex');
    writeFileSync(join(edited, 'manifest.json'), JSON.stringify(manifest, null, 2));
    const bad2 = await runCli(['incident', 'verify', edited]);
    assert.equal(bad2.code, 1);
    assert.match(bad2.stdout, /FAIL manifest.json: the signature does not cover these entries/);
    assert.doesNotMatch(bad2.stdout, /FAIL audit.jsonl: its SHA-256/);

    const other = join(tmp, 'other-file');
    cpSync(dir, other, { recursive: true });
    writeFileSync(
      join(other, 'inventory.json'),
      readFileSync(join(dir, 'inventory.json'), 'utf8').replace('"rec"', '"rex"'),
    );
    assert.match((await runCli(['incident', 'verify', other])).stdout, /FAIL inventory.json/);
  });

  await s.test(
    'notify: the owners get a signed webhook (retried after a failure) and email over real SMTP; deliveries recorded',
    async () => {
      const port = (smtp.server.address() as { port: number }).port;
      const r = json<{ deliveries: Array<{ channel: string; to: string; ok: boolean; attempts: number }> }>(
        await cli(
          'incident',
          'notify',
          id,
          '--smtp',
          `smtp://127.0.0.1:${port}`,
          '--from',
          'gatehouse@example.test',
          '--json',
        ),
      );
      assert.deepEqual(r.deliveries.map((d) => [d.channel, d.to, d.ok]).sort(), [
        ['email', 'oncall@example.test', true],
        ['email', 'owners@example.test', true],
        ['webhook', `http://127.0.0.1:${(hook.address() as { port: number }).port}/…`, true],
      ]);
      assert.equal(r.deliveries.find((d) => d.channel === 'webhook')!.attempts, 2, 'retried after the 503');
      assert.deepEqual(mails.map((m) => m.to[0]).sort(), ['oncall@example.test', 'owners@example.test']);
      assert.match(mails[0].body, new RegExp(`Subject: \\[gatehouse\\] incident ${id}`));
      assert.match(mails[0].body, /What you must do/);
      assert.match(mails[0].body, /revoked: 1 credential\(s\) \(env:INCIDENT_DRILL_TOKEN\)/);
      assert.equal(hooks.length, 1);
      assert.ok(hooks[0].verified, "the webhook is signed with the contact's secret");
      const payload = JSON.parse(hooks[0].body) as { text: string; incident: { id: string } };
      assert.equal(payload.incident.id, id);
      const notices = (await t.gw.store.audit.read({ kind: 'admin.action', limit: 1000 }))
        .map((x) => x.event.detail)
        .filter((d) => d?.action === 'incident.notice');
      assert.equal(notices.length, 3);
    },
  );

  await s.test('status, close --lift, list', async () => {
    const st = json<{ actions: Array<{ action: string }> }>(await cli('incident', 'status', id, '--json'));
    assert.deepEqual(
      st.actions.map((a) => a.action),
      ['contained', 'revoked', 'exported', 'notified'],
    );
    const closed = json<{ status: string; closedBy: string }>(
      await cli('incident', 'close', id, '--lift', '--note', 'tool fixed upstream', '--by', 'oncall', '--json'),
    );
    assert.equal(closed.status, 'closed');
    assert.equal(closed.closedBy, 'oncall');
    assert.equal((await cli('incident', 'close', id)).code, 1, 'closing twice fails');
    const list = json<{ incidents: Array<{ id: string; status: string }> }>(await cli('incident', 'list', '--json'));
    assert.deepEqual(
      list.incidents.map((x) => [x.id, x.status]),
      [[id, 'closed']],
    );
    const modes = json<{ modes: unknown[] }>(await runCli(['mode', 'list', '--json', '-c', t.file]));
    assert.deepEqual(modes.modes, [], 'the containment was lifted');
    const opened = (await t.gw.store.audit.read({ kind: 'admin.action', limit: 1000 })).map(
      (x) => x.event.detail?.action,
    );
    for (const a of [
      'incident.open',
      'mode.set',
      'credentials.revoke',
      'credentials.confirmed',
      'incident.revoked',
      'incident.exported',
      'incident.notified',
      'incident.closed',
    ])
      assert.ok(opened.includes(a), a);
  });
});

test('usage errors exit 2 and say why', async () => {
  for (const sub of ['open', 'revoke', 'export', 'verify', 'notify', 'status', 'list', 'close']) {
    const h = await runCli(['incident', sub, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`Usage: gatehouse incident ${sub}`));
    assert.match(h.stdout, /--json/);
  }
  const none = await cli('incident', 'open', '--title', 'x', '--reason', 'y');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give exactly one of --tool, --server, --tenant or --principal/);
  const unknown = await cli('incident', 'open', '--title', 'x', '--reason', 'y', '--server', 'nope');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown server `nope`/);
  // A misspelt tool is no containment: refused, with the name meant; nothing is switched.
  const modesBefore = await t.gw.store.modes.list();
  const revokedBefore = await t.gw.store.principalRevocations.list();
  const typo = await cli('incident', 'open', '--title', 'x', '--reason', 'y', '--tool', 'rec__recrod');
  assert.equal(typo.code, 2, typo.stdout);
  assert.match(
    typo.stderr,
    /server `rec` has listed no tool `recrod`: did you mean `rec__record`\? \(a tool it has not listed yet: --allow-unknown\)/,
  );
  const modeTypo = await runCli(['mode', 'set', 'disabled', '--tool', 'rec__recrod', '--reason', 'r', '-c', t.file]);
  assert.equal(modeTypo.code, 2);
  assert.match(modeTypo.stderr, /did you mean `rec__record`/);
  const serverTypo = await runCli(['mode', 'set', 'disabled', '--server', 'recc', '--reason', 'r', '-c', t.file]);
  assert.equal(serverTypo.code, 2);
  assert.match(serverTypo.stderr, /unknown server `recc`: did you mean `rec`\?/);
  // A misspelt tenant or principal is no containment either (walk L): refused with the name meant.
  const tenantTypo = await cli('incident', 'open', '--title', 'x', '--reason', 'y', '--tenant', 'defualt');
  assert.equal(tenantTypo.code, 2, tenantTypo.stdout);
  assert.match(
    tenantTypo.stderr,
    /no tenant `defualt` is known .*: did you mean `default`\? \(a tenant not seen yet: --unseen\)/,
  );
  const nobody = await cli('incident', 'open', '--title', 'x', '--reason', 'y', '--principal', 'nobody-at-all');
  assert.equal(nobody.code, 2, nobody.stdout);
  assert.match(nobody.stderr, /no principal `nobody-at-all` is known/);
  const modeTenant = await runCli([
    'mode',
    'set',
    'read_only',
    '--tenant',
    'nosuchtenant',
    '--reason',
    'r',
    '-c',
    t.file,
  ]);
  assert.equal(modeTenant.code, 2, modeTenant.stdout);
  assert.match(modeTenant.stderr, /no tenant `nosuchtenant` is known/);
  assert.deepEqual(await t.gw.store.modes.list(), modesBefore);
  assert.deepEqual(await t.gw.store.principalRevocations.list(), revokedBefore);
  // A tenant about to be onboarded, on purpose.
  const onboarding = ['--tenant', 'newco', '--unseen', '--reason', 'r', '-c', t.file];
  assert.equal((await runCli(['mode', 'set', 'disabled', ...onboarding])).code, 0);
  assert.equal((await runCli(['mode', 'clear', '--tenant', 'newco', '-c', t.file])).code, 0);
  // Before the server lists it, on purpose.
  const ahead = await runCli([
    'mode',
    'set',
    'disabled',
    '--tool',
    'rec__later',
    '--allow-unknown',
    '--reason',
    'r',
    '-c',
    t.file,
  ]);
  assert.equal(ahead.code, 0, ahead.stderr);
  assert.equal((await runCli(['mode', 'clear', '--tool', 'rec__later', '-c', t.file])).code, 0);
  const missing = await cli('incident', 'status', 'inc_000000000000');
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no incident `inc_000000000000`/);
});

/**
 * The evidence bundle of a deployment with two replicas (one store, a state directory and so a
 * signing key each) and two tenants. The command `export` prints verifies, naming every key that
 * signed a checkpoint in the bundle (the replica's own marked); trusting the exporting gateway's key
 * alone fails on the other replica's checkpoints, naming the key; `gatehouse audit key` on each
 * replica gives the ids to trust. A tenant's (or a person's) bundle holds the other tenant's records
 * as stubs that keep the chain checkable, and none of its state; a tool's keeps everything.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/storage/index.ts';
import { ROOT, createKey, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { postModernCall } from './support/rpc.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-bundle-replicas-'));
const storage = `storage: { sqlitePath: ${JSON.stringify(join(tmp, 'shared.db'))} }\n`;
const gateways: TestGateway[] = [];
const keys: Record<string, string> = {};

before(async () => {
  for (let i = 0; i < 2; i++) {
    gateways.push(
      await startGateway(
        stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
          `    env: { RECORD_FILE: ${JSON.stringify(join(tmp, `rec-${i}.jsonl`))} }\n    tools: { record: { class: READ }, other: { class: READ } }\n`,
        {
          storage,
          top: 'identity: { apiKeys: true }\naudit: { checkpoints: { everyRecords: 1, everySeconds: 1 } }\n',
        },
      ),
    );
  }
  keys.acme = await createKey(gateways[0].file, { name: 'acme-bot', tenant: 'acme', person: 'pat', scopes: 'x' });
  keys.globex = await createKey(gateways[0].file, { name: 'globex-bot', tenant: 'globex', person: 'kim', scopes: 'x' });
  // Both tenants call through both replicas: each replica's stream holds both tenants' records.
  for (const g of gateways) {
    assert.match(await call(g, 'acme', 'rec__record', 'acme-note'), /"result"/);
    assert.match(await call(g, 'globex', 'rec__record', 'globex-confidential'), /"result"/);
  }
});
after(async () => {
  for (const g of gateways) await g.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function call(g: TestGateway, tenant: string, name: string, note: string): Promise<string> {
  const r = await postModernCall(g.url, name, { note }, { token: keys[tenant] });
  return r.text();
}

async function cliOk(...args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.equal(r.code, 0, `gatehouse ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function openIncident(scope: string[]): Promise<string> {
  const out = await cliOk(
    'incident',
    'open',
    '--title',
    't',
    ...scope,
    '--reason',
    'r',
    '--json',
    '-c',
    gateways[0].file,
  );
  return (JSON.parse(out) as { incident: { id: string } }).incident.id;
}

test('two replicas: the printed verify command passes, naming both keys; one key alone fails on the other', async () => {
  const keyOf = async (g: TestGateway) =>
    (JSON.parse(await cliOk('audit', 'key', '--json', '-c', g.file)) as { keyId: string }).keyId;
  const [own, other] = [await keyOf(gateways[0]), await keyOf(gateways[1])];
  assert.notEqual(own, other, 'each replica signs with the key of its own state directory');

  const id = await openIncident(['--tool', 'rec__other']);
  const dir = join(tmp, 'bundle-tool');
  const text = await cliOk('incident', 'export', id, '--out', dir, '-c', gateways[0].file);
  const printed = /check it anywhere with: gatehouse (incident verify .*)$/m.exec(text)?.[1];
  assert.ok(printed, text);
  // The command as printed (the directory has no spaces) passes, and means something: both keys are named.
  const ok = await runCli(printed.split(' '));
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(text, new RegExp(`^  ${own}  this gateway's own: the manifest; checkpoints of `, 'm'));
  assert.match(text, new RegExp(`^  ${other}  NOT this gateway's`, 'm'));
  assert.deepEqual(printed.split('--trust-key ')[1].split(' ').sort(), [own, other].sort());

  const json = JSON.parse(
    await cliOk('incident', 'export', id, '--out', join(tmp, 'bundle-json'), '--json', '-c', gateways[0].file),
  ) as {
    keys: Array<{ keyId: string; own: boolean; manifest: boolean; streams: string[] }>;
    verify: string;
  };
  assert.deepEqual(
    json.keys.map((k) => [k.keyId, k.own, k.manifest]).sort(),
    [
      [own, true, true],
      [other, false, false],
    ].sort(),
  );
  assert.ok(
    json.keys.every((k) => k.streams.length > 0),
    'each key signed checkpoints of some stream',
  );

  // Trusting only the exporting gateway's key fails, naming the other key (strict, as before).
  const one = await runCli(['incident', 'verify', dir, '--trust-key', own, '--json']);
  assert.equal(one.code, 1);
  const report = JSON.parse(one.stdout) as {
    problems: Array<{ file: string; problem: string }>;
    keys: Array<{ keyId: string; trusted: boolean }>;
  };
  assert.ok(report.problems.length > 0);
  assert.ok(
    report.problems.every((p) => p.problem.includes(`signed by key ${other}, which is not among the trusted keys`)),
  );
  assert.deepEqual(
    report.keys.map((k) => [k.keyId, k.trusted]).sort(),
    [
      [own, true],
      [other, false],
    ].sort(),
  );
  // Said to a person: three of the kind and a count, not a line per checkpoint (walk W: 34 lines).
  const said = await runCli(['incident', 'verify', dir, '--trust-key', own]);
  assert.equal(said.code, 1);
  const fails = said.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
  const files = [...new Set(report.problems.map((p) => p.file))];
  for (const f of files) {
    const n = report.problems.filter((p) => p.file === f).length;
    const lines = fails.filter((l) => l.startsWith(`FAIL ${f}: `));
    assert.equal(lines.length, Math.min(n, 3) + (n > 3 ? 1 : 0), said.stdout);
    if (n > 3)
      assert.match(lines[3], new RegExp(`\\.\\.\\. and ${n - 3} more checkpoint\\(s\\) with the same problem`));
  }
  assert.equal(
    fails.length,
    files.reduce((sum, f) => sum + Math.min(report.problems.filter((p) => p.file === f).length, 4), 0),
  );
  // --trust-key repeated works as well as one list.
  assert.equal((await runCli(['incident', 'verify', dir, '--trust-key', own, '--trust-key', other])).code, 0);
});

test("a tenant's bundle: other tenants' records are stubs that keep the chain, their state is left out; a tool's keeps all", async () => {
  // Store-wide state of the other tenant: a mode, a person's revocation, a credential's revocation.
  const store = await openStore({ driver: 'sqlite', sqlitePath: join(tmp, 'shared.db') });
  try {
    const at = Date.now();
    await store.modes.set({ scope: 'tenant:globex', mode: 'read_only', reason: 'globex audit', setBy: 'x', setAt: at });
    await store.principalRevocations.revoke({
      kind: 'subject',
      value: 'kim',
      issuer: '',
      reason: 'globex left',
      revokedBy: 'x',
      revokedAt: at,
    });
    await store.revocations.revoke({
      ref: 'env:GLOBEX_TOKEN',
      reason: 'globex rotated',
      revokedBy: 'x',
      revokedAt: at,
    });
  } finally {
    await store.close();
  }
  const trust = (JSON.parse(await cliOk('audit', 'key', '--json', '-c', gateways[0].file)) as { keyId: string }).keyId;
  const other = (JSON.parse(await cliOk('audit', 'key', '--json', '-c', gateways[1].file)) as { keyId: string }).keyId;

  for (const scope of [
    ['--tenant', 'acme'],
    ['--principal', 'pat'],
  ]) {
    const id = await openIncident(scope);
    const dir = join(tmp, `bundle-${scope[0].slice(2)}`);
    const r = JSON.parse(await cliOk('incident', 'export', id, '--out', dir, '--json', '-c', gateways[0].file)) as {
      records: number;
      stubs: number;
    };
    assert.ok(r.stubs > 0 && r.stubs < r.records, JSON.stringify(r));
    // Nothing of the other tenant in any file: not its arguments, not its state, not its name.
    for (const f of readdirSync(dir))
      assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), /globex|kim|GLOBEX/, `${scope.join(' ')}: ${f}`);
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.ok(
      lines.some((l) => l.includes('acme-note')),
      "the tenant's own records are whole",
    );
    const stubs = lines.map((l) => JSON.parse(l)).filter((e) => e.stub);
    assert.equal(stubs.length, r.stubs);
    for (const s of stubs) assert.deepEqual(Object.keys(s).sort(), ['hash', 'prev', 'seq', 'stream', 'stub']);
    const policy = JSON.parse(readFileSync(join(dir, 'policy.json'), 'utf8'));
    assert.deepEqual(policy.credentialRevocations, []);
    assert.ok(policy.filtered.leftOut.principalRevocations >= 1 && policy.filtered.leftOut.credentialRevocations >= 1);
    if (scope[0] === '--tenant')
      assert.deepEqual(
        policy.runtimeModes.map((m: { scope: string }) => m.scope),
        ['tenant:acme'],
      );

    // The chain still verifies, every link checked; the report says what a stub leaves unchecked.
    const ok = await runCli(['incident', 'verify', dir, '--trust-key', trust, other, '--json']);
    assert.equal(ok.code, 0, ok.stdout);
    const report = JSON.parse(ok.stdout) as { stubs: number; notes: string[] };
    assert.equal(report.stubs, r.stubs);
    assert.match(report.notes.join('\n'), /stubs .* their own hashes cannot be recomputed/);

    // A stub whose hash is changed breaks the link to the record after it (the manifest too, but not only).
    const edited = join(tmp, `edited-${scope[0].slice(2)}`);
    cpSync(dir, edited, { recursive: true });
    const all = lines.map((l) => JSON.parse(l));
    const i = all.findIndex(
      (e, k) => e.stub && all.slice(k + 1).some((n) => n.stream === e.stream && n.seq === e.seq + 1),
    );
    assert.ok(i >= 0, 'a stub followed by a record of its stream');
    all[i].hash = 'f'.repeat(64);
    writeFileSync(join(edited, 'audit.jsonl'), `${all.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const bad = JSON.parse((await runCli(['incident', 'verify', edited, '--json'])).stdout) as {
      problems: Array<{ file: string; problem: string }>;
    };
    assert.ok(
      bad.problems.some((p) => p.file === 'audit.jsonl' && /does not link/.test(p.problem)),
      JSON.stringify(bad.problems),
    );
  }

  // A tool's incident is the platform's: everything, whole (the bundle of the first test).
  const tool = readFileSync(join(tmp, 'bundle-tool', 'audit.jsonl'), 'utf8');
  assert.match(tool, /globex-confidential/);
  assert.doesNotMatch(tool, /"stub":true/);
});

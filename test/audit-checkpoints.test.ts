/**
 * Signed audit checkpoints end to end, through the CLI against a real gateway process: the gateway
 * signs its stream, `gatehouse audit checkpoints` exports the latest signatures, and after the tail of
 * the stream is cut (or the stream deleted) `gatehouse audit verify --checkpoints` exits 1 where the
 * chain alone still passes; the CLI's own streams (admin actions) are signed alike. Also: a refused config reload is in the audit trail, and a policy rule
 * naming a tool of an unconfigured server is a warning at load.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { runCli, startCli } from './support/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cpe2e-'));
const file = join(dir, 'gatehouse.yaml');
const db = join(dir, 'state', 'gatehouse.db');
const CONFIG = `version: 1
gateway:
  listen: { host: 127.0.0.1, port: 0 }
  stateDir: ${JSON.stringify(join(dir, 'state'))}
audit:
  checkpoints: { everyRecords: 2, everySeconds: 1 }
policy:
  files: [policy.yaml]
servers: []
`;
const POLICY = `rules:
  - id: typo
    effect: allow
    tools: ['githb__create_issue']
`;
let gwStream = '';

before(async () => {
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const gw = await startCli(CONFIG, dir);
  // A reload the gateway must refuse: the file is no longer valid.
  writeFileSync(file, `${CONFIG}\nnot: [valid`);
  gw.child.kill('SIGHUP');
  await gw.logged(/configuration reload refused/);
  await gw.stop();
  writeFileSync(file, CONFIG);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli([...args, '--config', file]);

test('a policy rule naming a tool of an unconfigured server is a warning at load', async () => {
  const r = await cli('config', 'validate');
  assert.equal(r.code, 0);
  assert.match(
    r.stderr,
    /warning: .*policy\.yaml:\d+: rule `typo` names tool `githb__create_issue`, but no server `githb` is configured/,
  );
});

test('a refused reload is recorded in the audit trail', async () => {
  const r = await cli('audit', 'search', '--kind', 'config.reloaded', '--json');
  assert.equal(r.code, 0, r.stderr);
  const rows = (
    JSON.parse(r.stdout) as { records: Array<{ outcome?: string; detail?: { refused?: boolean; reason?: string } }> }
  ).records;
  const refused = rows.filter((e) => e.detail?.refused);
  assert.equal(refused.length, 1, r.stdout);
  assert.equal(refused[0].outcome, 'refused');
  assert.match(refused[0].detail!.reason!, /gatehouse\.yaml/);
});

test('export checkpoints, cut the tail: the chain alone passes, the checkpoints do not', async () => {
  const cp = join(dir, 'checkpoints.json');
  const exp = await cli('audit', 'checkpoints', '-o', cp);
  assert.equal(exp.code, 0, exp.stderr);
  assert.equal((await cli('audit', 'verify', '--checkpoints', cp)).code, 0);
  await checkpointsAreSaidChecked(cp);

  const sqlite = new Sqlite(db);
  gwStream = (
    sqlite.prepare("select stream from audit_events where stream like '%/gw/%' limit 1").get() as { stream: string }
  ).stream;
  const last = (
    sqlite.prepare('select max(seq) as m from audit_events where stream = ?').get(gwStream) as { m: number }
  ).m;
  sqlite.prepare('delete from audit_events where stream = ? and seq > ?').run(gwStream, last - 3);
  sqlite.close();

  const plain = await cli('audit', 'verify');
  assert.equal(plain.code, 0, 'a cut tail alone reads as a writer that stopped abruptly');
  const checked = await cli('audit', 'verify', '--checkpoints', cp);
  assert.equal(checked.code, 1);
  assert.match(checked.stdout, /TRUNCATED: stream .*\/gw\/.* seq \d+: the stream ends at seq/);
});

/** verify --checkpoints says it checked them: how many, of how many streams, signed by which key (walk T). */
async function checkpointsAreSaidChecked(cp: string): Promise<void> {
  const exported = JSON.parse(readFileSync(cp, 'utf8')) as { checkpoints: Array<{ stream: string; keyId: string }> };
  const n = exported.checkpoints.length;
  const streams = new Set(exported.checkpoints.map((c) => c.stream)).size;
  assert.ok(n > 0);
  const keyId = JSON.parse((await cli('audit', 'key', '--json')).stdout).keyId as string;
  const plain = await cli('audit', 'verify');
  assert.doesNotMatch(plain.stdout, /checkpoint/, 'without --checkpoints nothing is said of them');
  const trusted = await cli('audit', 'verify', '--checkpoints', cp, '--trust-key', keyId);
  assert.equal(trusted.code, 0, trusted.stdout);
  const said = `checked ${n} checkpoint\\(s\\) of ${streams} stream\\(s\\) from ${cp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, signed by key ${keyId}`;
  assert.match(trusted.stdout, new RegExp(`${said} \\(only the keys given with --trust-key count\\)`));
  const any = await cli('audit', 'verify', '--checkpoints', cp);
  assert.match(any.stdout, new RegExp(`${said} \\(any valid signature counts: pass --trust-key`));
  const other = await cli('audit', 'verify', '--checkpoints', cp, '--trust-key', 'someone-else');
  assert.equal(other.code, 1);
  assert.match(other.stdout, new RegExp(`checked ${n} checkpoint\\(s\\) .*, none with a valid, trusted signature`));
  const json = JSON.parse((await cli('audit', 'verify', '--checkpoints', cp, '--trust-key', keyId, '--json')).stdout);
  assert.deepEqual(json.checkpoints, { checked: n, streams, keyIds: [keyId], trusted: true });
}

test('a deleted stream is reported given the export', async () => {
  const cp = join(dir, 'checkpoints.json');
  const sqlite = new Sqlite(db);
  sqlite.prepare('delete from audit_events where stream = ?').run(gwStream);
  sqlite.close();
  const checked = await cli('audit', 'verify', '--checkpoints', cp);
  assert.equal(checked.code, 1);
  assert.match(checked.stdout, /DELETED: stream .*\/gw\//);
});

test('an admin action done through the CLI is signed too: deleting its stream is reported', async () => {
  const made = await cli('keys', 'create', '-n', 'ci-bot', '-t', 'default', '-r', 'agent', '--json');
  assert.equal(made.code, 0, made.stderr);
  const cp = join(dir, 'checkpoints-cli.json');
  assert.equal((await cli('audit', 'checkpoints', '-o', cp)).code, 0);
  assert.equal((await cli('audit', 'verify', '--checkpoints', cp)).code, 0);
  const sqlite = new Sqlite(db);
  const { stream } = sqlite
    .prepare("select stream from audit_events where kind = 'admin.action' and body like '%keys.create%' limit 1")
    .get() as { stream: string };
  assert.match(stream, /\/cli\//);
  const kinds = sqlite.prepare('select kind from audit_events where stream = ? order by seq').pluck().all(stream);
  assert.deepEqual(kinds, ['stream.opened', 'admin.action', 'stream.closed', 'audit.checkpoint']);
  sqlite.prepare('delete from audit_events where stream = ?').run(stream);
  sqlite.close();
  const checked = await cli('audit', 'verify', '--checkpoints', cp);
  assert.equal(checked.code, 1);
  assert.match(checked.stdout, /DELETED: stream .*\/cli\//);
});

test('with policy.unknownTools: error, such a rule fails the load at its file and line', async () => {
  const strict = join(dir, 'strict.yaml');
  writeFileSync(strict, CONFIG.replace('  files: [policy.yaml]\n', '  files: [policy.yaml]\n  unknownTools: error\n'));
  const r = await runCli(['config', 'validate', strict]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /policy\.yaml:2:1: policy: rule `typo` names tool `githb__create_issue`, but no server `githb` is configured/,
  );
});

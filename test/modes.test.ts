/**
 * The incident switch: `gatehouse mode set` from another process disables a tool (or puts the whole
 * gateway in read-only or shadow mode) on a running gateway within a second, with or without a
 * policy; it is recorded in the audit trail; `mode clear` gives the decision back to the policy files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { linesWith } from './support/lines.ts';
import { eventually } from './support/eventually.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-modes-'));
const rec = join(tmp, 'rec.jsonl');
let t: TestGateway;
let c: Client;
const calls = () => linesWith(rec, '"tools/call"');

before(async () => {
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ }, other: { class: WRITE } }\n`,
  );
  c = new Client({ name: 'modes', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});
after(async () => {
  await c?.close();
  await t?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function until(what: string, fn: () => Promise<boolean>): Promise<void> {
  await eventually(fn, { timeoutMs: 10_000, intervalMs: 50 }).catch(() => assert.fail(`timed out waiting for ${what}`));
}
const listed = async (name: string) => (await c.listTools()).tools.some((x) => x.name === name);

test('disable one tool at once, from another process; recorded; cleared again', async () => {
  assert.ok(await listed('rec__other'));
  const set = await runCli([
    'mode',
    'set',
    'disabled',
    '--tool',
    'rec__other',
    '--reason',
    'incident 4711',
    '--by',
    'oncall',
    '-c',
    t.file,
  ]);
  assert.equal(set.code, 0, set.stderr);
  await until('the tool to disappear', async () => !(await listed('rec__other')));
  const before = calls();
  await assert.rejects(c.callTool({ name: 'rec__other', arguments: { note: 'x' } }), /unknown tool `rec__other`/);
  assert.equal(calls(), before, 'nothing reached the upstream');
  await c.callTool({ name: 'rec__record', arguments: { note: 'other tools keep working' } });
  const actions = (await t.gw.store.audit.read({ kind: 'admin.action', limit: 100 })).map((r) => r.event);
  assert.ok(
    actions.some(
      (e) =>
        e.actor?.subject === 'oncall' &&
        e.detail?.action === 'mode.set' &&
        e.detail?.scope === 'tool:rec__other' &&
        e.detail?.reason === 'incident 4711',
    ),
  );
  const list = JSON.parse((await runCli(['mode', 'list', '--json', '-c', t.file])).stdout);
  assert.deepEqual(
    list.modes.map((m: { scope: string; mode: string }) => [m.scope, m.mode]),
    [['tool:rec__other', 'disabled']],
  );
  assert.equal((await runCli(['mode', 'clear', '--tool', 'rec__other', '-c', t.file])).code, 0);
  await until('the tool to come back', () => listed('rec__other'));
});

test('the whole gateway read-only, then in shadow mode, without any policy', async () => {
  assert.equal((await runCli(['mode', 'set', 'read_only', '--gateway', '--reason', 'drill', '-c', t.file])).code, 0);
  await until('read-only', async () => !(await listed('rec__other')));
  const before = calls();
  await assert.rejects(c.callTool({ name: 'rec__other', arguments: { note: 'w' } }));
  await c.callTool({ name: 'rec__record', arguments: { note: 'r' } });
  assert.equal(calls(), before + 1);
  assert.equal((await runCli(['mode', 'set', 'shadow', '--gateway', '--reason', 'rollout', '-c', t.file])).code, 0);
  await until('shadow', () => listed('rec__other'));
  const r = await c.callTool({ name: 'rec__other', arguments: { note: 'proposed' } });
  assert.match(JSON.stringify(r.content), /did NOT run it/);
  assert.equal(calls(), before + 1, 'nothing ran');
  assert.equal((await runCli(['mode', 'clear', '--gateway', '-c', t.file])).code, 0);
  const bad = await runCli(['mode', 'set', 'off', '--tool', 'x', '--reason', 'r', '-c', t.file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown mode `off`: use enforce, shadow, read_only, disabled/);
});

test('mode set returns once every live gateway applied it, and says so: the next call is under the mode (walk R)', async () => {
  const set = await runCli(['mode', 'set', 'disabled', '--tool', 'rec__record', '--reason', 'drill', '-c', t.file]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(
    set.stdout,
    /^tool:rec__record: disabled \(set by .*\); 1 live gateway\(s\) applied it within \d+ ms\n$/,
  );
  const before = calls();
  await assert.rejects(c.callTool({ name: 'rec__record', arguments: { note: 'right after' } }), /unknown tool/);
  assert.equal(calls(), before, 'nothing reached the upstream');
  const json = await runCli(['mode', 'set', 'read_only', '--gateway', '--reason', 'r', '--json', '-c', t.file]);
  assert.equal(json.code, 0, json.stderr);
  const c2 = JSON.parse(json.stdout) as { scope: string; confirmed: boolean; gateways: number };
  assert.deepEqual([c2.scope, c2.confirmed, c2.gateways], ['gateway', true, 1]);
  // mode clear waits and says so the same way (walk T): the next call runs under the policy again.
  const cleared = await runCli(['mode', 'clear', '--tool', 'rec__record', '--by', 'oncall', '-c', t.file]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(
    cleared.stdout,
    /^tool:rec__record: cleared \(by oncall\); 1 live gateway\(s\) applied it within \d+ ms\n$/,
  );
  const clearedJson = await runCli(['mode', 'clear', '--gateway', '--json', '-c', t.file]);
  assert.equal(clearedJson.code, 0, clearedJson.stderr);
  const c3 = JSON.parse(clearedJson.stdout) as { cleared: string; confirmed: boolean; gateways: number };
  assert.deepEqual([c3.cleared, c3.confirmed, c3.gateways], ['gateway', true, 1]);
  const r = await c.callTool({ name: 'rec__record', arguments: { note: 'right after the clear' } });
  assert.ok(!r.isError, JSON.stringify(r));
  const again = await runCli(['mode', 'clear', '--gateway', '-c', t.file]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /no run-time mode is set for gateway/);
});

test('mode list shows the policy files’ modes too, where each is written, and which a run-time mode overrides (walk T)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-modes-list-'));
  try {
    writeFileSync(
      join(dir, 'policy.yaml'),
      'modes:\n  gateway: enforce\n  tenants: { initech: shadow }\n  servers: { rec: read_only }\nrules: []\n',
    );
    writeFileSync(
      join(dir, 'gatehouse.yaml'),
      `version: 1\ngateway:\n  stateDir: ${JSON.stringify(join(dir, 'state'))}\npolicy:\n  files: [policy.yaml]\nservers: []\n`,
    );
    const file = join(dir, 'gatehouse.yaml');
    const set = await runCli([
      'mode',
      'set',
      'disabled',
      '--tenant',
      'initech',
      '--unseen',
      '--reason',
      'r',
      '-c',
      file,
    ]);
    assert.equal(set.code, 0, set.stderr);
    const list = JSON.parse((await runCli(['mode', 'list', '--json', '-c', file])).stdout);
    assert.deepEqual(
      list.modes.map((m: { scope: string; mode: string }) => [m.scope, m.mode]),
      [['tenant:initech', 'disabled']],
    );
    assert.deepEqual(
      list.policy.map((m: { scope: string; mode: string; line: number; overridden: boolean }) => [
        m.scope,
        m.mode,
        m.line,
        m.overridden,
      ]),
      [
        ['gateway', 'enforce', 2, false],
        ['tenant:initech', 'shadow', 3, true],
        ['server:rec', 'read_only', 4, false],
      ],
    );
    const text = (await runCli(['mode', 'list', '-c', file], { cwd: dir })).stdout;
    assert.match(text, /server:rec\s+read_only\s+policy file\s+-\s+policy\.yaml:4/);
    assert.match(text, /tenant:initech\s+shadow \(overridden by the mode set above\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

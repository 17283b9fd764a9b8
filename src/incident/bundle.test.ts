/**
 * The evidence bundle on a real store: exported, verified offline; a record edited (with or without
 * its hash recomputed), a record removed, a checkpoint forged, an extra file, a manifest re-signed
 * with another key: each fails, naming the file. A checkpoint recorded in the window is checked too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { parseConfig } from '../config/load.ts';
import { AuditLog } from '../audit/log.ts';
import { chainHash, type AuditEvent } from '../model/audit-event.ts';
import { loadOrCreateSigner } from '../audit/checkpoint.ts';
import { openStore } from '../storage/index.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { exportBundle } from './bundle.ts';
import { checkChain } from './bundle-format.ts';
import { verifyBundle } from './bundle-verify.ts';
import { openIncident, type Actor } from './incident.ts';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bundle-'));
  const file = join(dir, 'gatehouse.yaml');
  const yaml = `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\nservers:\n  - { name: files, transport: stdio, command: /bin/true, owner: files-team }\n`;
  writeFileSync(file, yaml);
  const config = parseConfig(yaml, file);
  const store = await openStore(config.storage);
  const log = new AuditLog(store.audit, 'gw-test', () => {}, {
    signer: loadOrCreateSigner(config.gateway.stateDir),
    everyRecords: 3,
    everyMs: 60_000,
  });
  for (let i = 0; i < 7; i++)
    await log.append({
      kind: 'call.outcome',
      tool: 'files__write',
      server: 'files',
      runId: 'run-1',
      outcome: 'ok',
      actor: { subject: 'bot', tenant: 'acme', via: 'api-key', issuer: 'gatehouse' },
      detail: { i },
    });
  await log.close();
  const actor: Actor = { name: 'tester', record: async () => {} };
  const { incident } = await openIncident(store, actor, {
    title: 'files__write misbehaves',
    scope: { kind: 'tool', value: 'files__write' },
    reason: 'r',
    timeoutMs: 0,
  });
  const out = join(dir, 'bundle');
  const r = await exportBundle(store, config, actor, incident.id, out);
  await store.close();
  return { dir, out, r };
}

function copy(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  return to;
}

test('an exported bundle verifies offline, with its checkpoints; each kind of tampering fails it', async () => {
  const { dir, out, r } = await setup();
  assert.ok(r.records >= 7);
  const good = await verifyBundle(out, new Set([r.manifest.signature.keyId]));
  assert.deepEqual(good.problems, []);
  assert.ok(good.ok);
  const lines = readFileSync(join(out, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
  assert.ok(
    lines.some((l) => l.includes('"audit.checkpoint"')),
    'signed checkpoints are in the window',
  );
  assert.equal(JSON.parse(readFileSync(join(out, 'timelines.json'), 'utf8')).runs[0].run, 'run-1');

  assert.equal((await verifyBundle(out, new Set(['0000000000000000']))).ok, false, 'an untrusted key fails');

  // A record edited, its hash recomputed, the manifest's digest fixed: the chain link and the signature still fail.
  const edited = copy(out, join(dir, 'edited'));
  const events = lines.map((l) => JSON.parse(l) as AuditEvent);
  const victim = events.findIndex((e) => e.kind === 'call.outcome');
  events[victim] = { ...events[victim], outcome: 'error' };
  events[victim].hash = chainHash(events[victim]);
  const text = `${events.map((e) => JSON.stringify(e)).join('\n')}\n`;
  writeFileSync(join(edited, 'audit.jsonl'), text);
  const m = JSON.parse(readFileSync(join(edited, 'manifest.json'), 'utf8'));
  m.files['audit.jsonl'] = sha(text);
  writeFileSync(join(edited, 'manifest.json'), JSON.stringify(m));
  const bad = await verifyBundle(edited);
  assert.ok(bad.problems.some((p) => p.file === 'manifest.json'));
  assert.ok(
    bad.problems.some((p) => p.file === 'audit.jsonl' && /does not link|not the one signed/.test(p.problem)),
    JSON.stringify(bad.problems),
  );

  const removed = copy(out, join(dir, 'removed'));
  writeFileSync(join(removed, 'audit.jsonl'), `${lines.filter((_l, i) => i !== 2).join('\n')}\n`);
  assert.ok((await verifyBundle(removed)).problems.some((p) => /absent/.test(p.problem)));

  const extra = copy(out, join(dir, 'extra'));
  writeFileSync(join(extra, 'notes.txt'), 'x');
  assert.deepEqual(
    (await verifyBundle(extra)).problems.map((p) => p.file),
    ['notes.txt'],
  );

  const forged = copy(out, join(dir, 'forged'));
  const cps = JSON.parse(readFileSync(join(forged, 'checkpoints.json'), 'utf8'));
  cps.checkpoints[0].hash = '0'.repeat(64);
  writeFileSync(join(forged, 'checkpoints.json'), JSON.stringify(cps));
  assert.ok(
    (await verifyBundle(forged)).problems.some((p) => p.file === 'checkpoints.json' && /signature/.test(p.problem)),
  );

  const gone = copy(out, join(dir, 'gone'));
  writeFileSync(join(gone, 'manifest.json'), '{');
  assert.deepEqual(
    (await verifyBundle(gone)).problems.map((p) => p.file),
    ['manifest.json'],
  );
});

test("the manifest's window and time are signed; a format-1 bundle still verifies, saying they are not", async () => {
  const { dir, out, r } = await setup();
  const trusted = new Set([r.manifest.signature.keyId]);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const edits: Record<string, (m: typeof manifest) => void> = {
    window: (m) => {
      m.window.since = '2020-01-01T00:00:00.000Z';
    },
    createdAt: (m) => {
      m.createdAt = '2020-01-01T00:00:00.000Z';
    },
    'an added field': (m) => {
      m.note = 'x';
    },
  };
  for (const [what, edit] of Object.entries(edits)) {
    const copied = copy(out, join(dir, `edited-${what}`));
    const m = JSON.parse(readFileSync(join(copied, 'manifest.json'), 'utf8'));
    edit(m);
    writeFileSync(join(copied, 'manifest.json'), JSON.stringify(m, null, 2));
    const report = await verifyBundle(copied, trusted);
    assert.equal(report.ok, false, `${what} edited`);
    assert.deepEqual(
      report.problems.map((p) => p.file),
      ['manifest.json'],
    );
  }
  assert.equal(manifest.format, 'gatehouse-incident-bundle/2');
  assert.deepEqual((await verifyBundle(out, trusted)).notes, []);
  // A bundle exported before: format 1, its signature over the files alone. It verifies, and says what it does not cover.
  const old = copy(out, join(dir, 'format-1'));
  const { signature: _s, ...rest } = manifest;
  const v1 = {
    ...rest,
    format: 'gatehouse-incident-bundle/1',
    signature: loadOrCreateSigner(join(dir, 'state')).sign(
      `incident-bundle:${manifest.incident}`,
      0,
      sha(canonicalJson(manifest.files)),
    ),
  };
  writeFileSync(join(old, 'manifest.json'), JSON.stringify(v1, null, 2));
  const report = await verifyBundle(old, trusted);
  assert.deepEqual(report.problems, []);
  assert.ok(report.ok);
  assert.match(report.notes.join('\n'), /format 1 .*window .* not signed/);
  // A format-2 signature presented as format 1 (or the reverse) does not verify.
  writeFileSync(join(old, 'manifest.json'), JSON.stringify({ ...manifest, format: 'gatehouse-incident-bundle/1' }));
  assert.equal((await verifyBundle(old, trusted)).ok, false);
  writeFileSync(join(old, 'manifest.json'), JSON.stringify({ ...v1, format: 'gatehouse-incident-bundle/2' }));
  assert.equal((await verifyBundle(old, trusted)).ok, false);
});

test('a folder that is missing, not a bundle, or not a folder is said so (walk R)', async () => {
  const d = mkdtempSync(join(tmpdir(), 'gatehouse-verify-'));
  const why = async (p: string) => (await verifyBundle(p)).problems.map((x) => `${x.file}: ${x.problem}`);
  assert.deepEqual(await why(join(d, 'nope')), [
    `manifest.json: no such folder \`${join(d, 'nope')}\`: give the folder \`gatehouse incident export\` wrote`,
  ]);
  assert.deepEqual(await why(d), [
    `manifest.json: missing: \`${d}\` is not an evidence bundle (\`gatehouse incident export\` writes one)`,
  ]);
  writeFileSync(join(d, 'f'), 'x');
  assert.deepEqual(await why(join(d, 'f')), [
    `manifest.json: \`${join(d, 'f')}\` is not a folder: give the folder \`gatehouse incident export\` wrote`,
  ]);
  writeFileSync(join(d, 'manifest.json'), '{');
  assert.deepEqual(await why(d), ['manifest.json: not JSON: the bundle was damaged']);
});

test('checkChain: each hash, each link within a stream, gaps named', () => {
  const mk = (stream: string, seq: number, prev: string): AuditEvent => {
    const e = {
      v: 1,
      id: `${stream}-${seq}`,
      time: '2026-01-01T00:00:00.000Z',
      stream,
      seq,
      prev,
      hash: '',
      kind: 'call.outcome',
    } as AuditEvent;
    e.hash = chainHash(e);
    return e;
  };
  const a1 = mk('a', 1, '0'.repeat(64));
  const a2 = mk('a', 2, a1.hash);
  const a4 = mk('a', 4, 'f'.repeat(64));
  const b7 = mk('b', 7, 'e'.repeat(64)); // the window starts mid-stream: its first link is not checked
  assert.deepEqual(checkChain([b7, a2, a1]), []);
  assert.deepEqual(
    checkChain([a1, a2, a4]).map((p) => p.problem),
    ['stream a: seq 3 absent'],
  );
  // A stub (another tenant's record) keeps the links: its own hash is not recomputed, each link is checked.
  const a3 = mk('a', 3, a2.hash);
  const stub = { stream: 'a', seq: 2, prev: a2.prev, hash: a2.hash, stub: true as const };
  assert.deepEqual(checkChain([a1, stub, a3]), []);
  assert.deepEqual(
    checkChain([a1, { ...stub, hash: 'f'.repeat(64) }, a3]).map((p) => p.problem),
    ['stream a seq 3: does not link to seq 2'],
  );
  assert.deepEqual(
    checkChain([a1, { ...stub, prev: 'f'.repeat(64) }, a3]).map((p) => p.problem),
    ['stream a seq 2: does not link to seq 1'],
  );
  assert.deepEqual(
    checkChain([a1, { ...a2, prev: 'x' }]).map((p) => p.problem),
    ['stream a seq 2: the record does not match its hash (edited)', 'stream a seq 2: does not link to seq 1'],
  );
});

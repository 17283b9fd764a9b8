import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { openStore } from '../storage/index.ts';
import { AuditLog } from './log.ts';
import { verifyAudit } from './verify.ts';
import { exportCheckpoints, latestCheckpoints, loadOrCreateSigner, SIGNING_KEY_FILE } from './checkpoint.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cp-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function fixture(name: string) {
  const path = join(dir, `${name}.db`);
  const store = await openStore({ driver: 'sqlite', sqlitePath: path });
  const signer = loadOrCreateSigner(join(dir, 'state'));
  const log = new AuditLog(store.audit, `host/gw/${name}`, () => {}, { signer, everyRecords: 10, everyMs: 60_000 });
  return { store, log, path, signer };
}

function raw(path: string, sqlText: string, ...args: unknown[]): void {
  const db = new Sqlite(path);
  db.prepare(sqlText).run(...args);
  db.close();
}

test('the key is created once, private (0600), and reused', () => {
  const a = loadOrCreateSigner(join(dir, 'keys'));
  const b = loadOrCreateSigner(join(dir, 'keys'));
  assert.equal(a.keyId, b.keyId);
  assert.equal(statSync(join(dir, 'keys', SIGNING_KEY_FILE)).mode & 0o777, 0o600);
});

test('every N records the stream signs its last record; closing signs the end; verify checks each signature', async () => {
  const { store, log } = await fixture('n');
  for (let i = 0; i < 25; i++) await log.append({ kind: 'admin.action', detail: { i } });
  await log.close();
  const rows = await store.audit.read({ stream: log.stream });
  const cps = rows.filter((r) => r.event.kind === 'audit.checkpoint').map((r) => r.event);
  assert.deepEqual(
    cps.map((e) => e.detail?.seq),
    [10, 21, 28],
    'after records 10 and 20 (seq 10, 21), and after stream.closed',
  );
  assert.equal(rows[rows.length - 2].event.kind, 'stream.closed');
  const report = await verifyAudit(store.audit);
  assert.equal(report.ok, true, JSON.stringify(report.problems));
  assert.deepEqual(report.problems, [], 'a trailing checkpoint does not make the stream look unclosed');
  await store.close();
});

test('a checkpoint is also written T seconds after the first unsigned record', async () => {
  const { store, path } = await fixture('t');
  const log = new AuditLog(store.audit, 'host/gw/t', () => {}, {
    signer: loadOrCreateSigner(join(dir, 'state')),
    everyRecords: 1000,
    everyMs: 100,
  });
  await log.append({ kind: 'admin.action' });
  await new Promise((r) => setTimeout(r, 250));
  await log.drain();
  const rows = await store.audit.read({ stream: log.stream, kind: 'audit.checkpoint' });
  assert.equal(rows.length, 1);
  assert.equal(rows[0].event.detail?.seq, 1);
  void path;
  await store.close();
});

test('given an earlier export, verify detects a cut tail, a deleted stream and a rewritten record', async () => {
  const { store, log, path } = await fixture('cut');
  const other = new AuditLog(store.audit, 'host/gw/other', () => {}, {
    signer: loadOrCreateSigner(join(dir, 'state')),
    everyRecords: 5,
    everyMs: 60_000,
  });
  for (let i = 0; i < 12; i++) await log.append({ kind: 'admin.action', detail: { i } });
  for (let i = 0; i < 6; i++) await other.append({ kind: 'admin.action', detail: { i } });
  const exported = exportCheckpoints(await latestCheckpoints(store.audit));
  assert.deepEqual(
    exported.checkpoints.map((c) => [c.stream, c.seq]),
    [
      ['host/gw/cut', 10],
      ['host/gw/other', 5],
    ],
  );
  assert.equal(
    (await verifyAudit(store.audit, { checkpoints: exported, liveStreams: new Set([log.stream, other.stream]) })).ok,
    true,
  );

  // The tail is cut (including the checkpoint records): the chain alone still verifies.
  raw(path, 'delete from audit_events where stream = ? and seq > 7', log.stream);
  assert.equal((await verifyAudit(store.audit)).ok, true, 'without checkpoints, a cut tail is only "not closed"');
  const cut = await verifyAudit(store.audit, { checkpoints: exported });
  assert.equal(cut.ok, false);
  assert.deepEqual(
    cut.problems.filter((p) => p.problem === 'truncated').map((p) => [p.stream, p.seq]),
    [['host/gw/cut', 10]],
  );

  // A whole stream deleted.
  raw(path, 'delete from audit_events where stream = ?', other.stream);
  const gone = await verifyAudit(store.audit, { checkpoints: exported });
  assert.deepEqual(
    gone.problems.filter((p) => p.problem === 'deleted').map((p) => p.stream),
    ['host/gw/other'],
  );

  // The export itself altered: its signature no longer verifies; an untrusted key does not count.
  const forged = { ...exported, checkpoints: exported.checkpoints.map((c) => ({ ...c, seq: c.seq - 3 })) };
  assert.ok(
    (await verifyAudit(store.audit, { checkpoints: forged })).problems.some((p) =>
      /signature does not verify/.test(p.detail),
    ),
  );
  const untrusted = await verifyAudit(store.audit, { checkpoints: exported, trustedKeys: new Set(['0000']) });
  assert.ok(untrusted.problems.some((p) => p.problem === 'bad checkpoint' || /not trusted/.test(p.detail)));
  await store.close();
});

test('a checkpoint record forged in the store (rechained, unsigned) is reported', async () => {
  const { store, log, path } = await fixture('forge');
  for (let i = 0; i < 10; i++) await log.append({ kind: 'admin.action' });
  await log.drain();
  const [cp] = await store.audit.read({ stream: log.stream, kind: 'audit.checkpoint' });
  const body = JSON.parse(JSON.stringify(cp.event));
  body.detail.signature = Buffer.alloc(64).toString('base64');
  const { chainHash } = await import('../model/audit-event.ts');
  body.hash = chainHash(body);
  raw(
    path,
    'update audit_events set body = ? where stream = ? and seq = ?',
    JSON.stringify(body),
    log.stream,
    cp.event.seq,
  );
  const r = await verifyAudit(store.audit, { liveStreams: new Set([log.stream]) });
  assert.ok(
    r.problems.some((p) => p.problem === 'bad checkpoint'),
    JSON.stringify(r.problems),
  );
  await store.close();
});

/** Retention in a running gateway's audit: the first prune does not hold up the start, and closing stops it between chunks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { silentLogger } from '../observability/logger.ts';
import { openStore } from '../storage/index.ts';
import { Audit } from './audit.ts';
import { AuditLog, newStreamName } from './log.ts';
import { verifyAudit } from './verify.ts';

async function trail(old: number) {
  const dir = mkdtempSync(join(tmpdir(), 'gh-retention-'));
  const config = parseConfig(
    `version: 1\ngateway: { stateDir: ${JSON.stringify(join(dir, 'state'))} }\naudit: { retentionDays: 1 }\nservers: []\n`,
    join(dir, 'g.yaml'),
  );
  const store = await openStore(config.storage);
  const log = new AuditLog(store.audit, newStreamName('gw'));
  log.durability = 'process-crash';
  const at = Date.now() - 3 * 86_400_000;
  await Promise.all(Array.from({ length: old }, (_, i) => log.append({ kind: 'config.reloaded', at: at + i })));
  await log.close(); // one recent record: its stream.closed
  return { dir, config, store };
}

test('the first prune runs beside the start, not before it, and removes everything retention lets go', async () => {
  const { dir, config, store } = await trail(5000);
  const audit = new Audit(store.audit, config.audit, silentLogger(), config.gateway.stateDir);
  try {
    await audit.start({ event: 'test' }, false);
    assert.ok((await store.audit.count()) > 2000, 'started with most of the old records still there');
    assert.equal(await audit.prune(), 5000, 'the run under way, joined: not a second one');
    const kinds = (await store.audit.read({})).map((r) => r.event.kind);
    assert.ok(kinds.includes('audit.pruned') && kinds.length < 10, kinds.join());
  } finally {
    await audit.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closing stops a prune between chunks; what it removed is recorded and the trail verifies', async () => {
  const { dir, config, store } = await trail(5000);
  const audit = new Audit(store.audit, config.audit, silentLogger(), config.gateway.stateDir);
  try {
    await audit.start({ event: 'test' }, false);
    await audit.close();
    const left = (await store.audit.read({ kind: 'config.reloaded', limit: 10_000 })).length;
    assert.ok(left > 0 && left < 5000, `${left} old records left`);
    const pruned = (await store.audit.read({ kind: 'audit.pruned' }))[0]?.event.detail?.removed;
    assert.equal(pruned, 5000 - left);
    const report = await verifyAudit(store.audit);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a live gateway closes its own intents no call holds (one whose write was reported failed but stored), never a call's in flight", async () => {
  const { dir, config, store } = await trail(0);
  const audit = new Audit(store.audit, config.audit, silentLogger(), config.gateway.stateDir);
  try {
    await audit.start({ event: 'test' }, false);
    const call = { kind: 'call.intent', requestId: '1', tool: 'fs__write', class: 'WRITE' } as const;
    const inFlight = await audit.intent({ ...call });
    // In the store, on this stream, and no call holds it: what a commit whose answer was lost leaves.
    const lost = await audit.log.append({ ...call, requestId: '2' });
    assert.equal(await audit.closeOrphans(), 0, 'no other writer');
    const closing = (id: string) => store.audit.read({}).then((rows) => rows.filter((r) => r.event.intent === id));
    const closed = await closing(lost.id);
    assert.deepEqual(
      closed.map((r) => [r.event.kind, r.event.outcome]),
      [['call.unknown', 'unknown']],
    );
    assert.match(String(closed[0].event.detail?.reason), /reported not written though it was/);
    assert.deepEqual(await closing(inFlight.id), [], 'the call in flight closes its own intent');
    await audit.outcome({ ...call, kind: 'call.outcome', intent: inFlight.id, outcome: 'ok' });
    await audit.closeOrphans();
    assert.deepEqual(
      (await closing(inFlight.id)).map((r) => r.event.kind),
      ['call.outcome'],
      'closed once, by its outcome',
    );
  } finally {
    await audit.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

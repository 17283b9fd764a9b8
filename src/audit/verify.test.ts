/** verifyAudit inside the gateway: it gives the event loop a turn between pages of records. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditLog, newStreamName } from './log.ts';
import { verifyAudit } from './verify.ts';
import { withLoopTurns } from '../../test/support/loop-delay.ts';
import { withTempStore } from '../../test/support/temp-store.ts';

test('verification lets other work run between pages (SQLite reads on the event loop), and still verifies', async () => {
  await withTempStore(async (store) => {
    const log = new AuditLog(store.audit, newStreamName('gw'));
    log.durability = 'process-crash';
    await Promise.all(Array.from({ length: 7000 }, (_, i) => log.append({ kind: 'config.reloaded', detail: { i } })));
    await log.close();
    const { value: report, turns } = await withLoopTurns(() => verifyAudit(store.audit));
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    assert.equal(report.records, 7001);
    // 7,001 records are four pages of 2,000: three turns of the event loop at least between them.
    assert.ok(turns >= 3, `${turns} turns`);
  });
});

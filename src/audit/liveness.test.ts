/** When a gateway may have looked stopped to another, and the late outcome of a call closed meanwhile. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logTo } from '../../test/support/logs.ts';
import { withTempStore } from '../../test/support/temp-store.ts';
import { AuditLog, newStreamName } from './log.ts';
import { HeartbeatGaps, Liveness, STOPPED_AFTER_MS } from './liveness.ts';

test('heartbeats a second apart: no call at risk; a silence of half the grace puts the calls it overlapped at risk', () => {
  const g = new HeartbeatGaps(0);
  for (let t = 1000; t <= 10_000; t += 1000) g.beat(t, t + 20);
  assert.equal(g.atRisk(500, 10_100), false);
  assert.equal(g.atRisk(500, 13_100), true, 'no heartbeat taken for 3 s: the store is stalled now');
  // The store paused 4 s: a heartbeat sent at 11 s is taken at 15 s. Shorter than half the grace.
  g.beat(11_000, 15_000);
  assert.equal(g.atRisk(500, 15_100), false, 'a short pause costs nothing');
  // Silent now for half the grace: a call in flight may be closed by another gateway.
  assert.equal(g.atRisk(14_000, 11_000 + STOPPED_AFTER_MS / 2), true);
  g.beat(12_000, 25_000); // the heartbeat sent at 12 s taken at 25 s: 14 s after the last one sent
  assert.equal(g.atRisk(20_000, 25_100), true, 'a call that began during the silence');
  assert.equal(g.atRisk(24_999, 25_100), true);
  // Until the next heartbeat, the one sent at 12 s may carry the store's time of then: still silent.
  assert.equal(g.atRisk(25_001, 25_100), true);
  g.beat(26_000, 26_010);
  assert.equal(g.atRisk(25_001, 26_100), true, 'the silence went on until 26 s');
  assert.equal(g.atRisk(26_020, 26_100), false, 'a call begun after the silence');
});

test('the outcome of a call another gateway closed as unknown is late and says which record; others are left as they are', async () => {
  await withTempStore(async (store) => {
    const lines: string[] = [];
    const mine = new AuditLog(store.audit, newStreamName('gw'));
    const other = new AuditLog(store.audit, newStreamName('gw'));
    const liveness = new Liveness(
      store.audit,
      logTo('warn', (c) => lines.push(c)),
    );
    const closed = await mine.append({ kind: 'call.intent', tool: 'rec__slow' });
    const open = await mine.append({ kind: 'call.intent', tool: 'rec__slow' });
    const unknown = await other.append({ kind: 'call.unknown', intent: closed.id, outcome: 'unknown' });
    const outcome = { kind: 'call.outcome' as const, outcome: 'ok' as const };
    // No silence: the store is not asked, the outcome stays as it is (even for the closed one).
    assert.deepEqual(await liveness.outcome({ ...outcome, intent: closed.id }, closed, performance.now()), {
      ...outcome,
      intent: closed.id,
    });
    liveness.gaps.beat(performance.now(), performance.now() + STOPPED_AFTER_MS); // a silence overlapping both
    const late = await liveness.outcome({ ...outcome, intent: closed.id }, closed, 0);
    assert.deepEqual(late.detail, { lateAfter: { id: unknown.id, stream: other.stream, seq: unknown.seq } });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /recorded as late/);
    assert.ok(lines[0].includes(unknown.id));
    const still = await liveness.outcome({ ...outcome, intent: open.id }, open, 0);
    assert.equal(still.detail, undefined, 'an intent still open: its outcome is the first');
    await mine.close();
    await other.close();
  });
});

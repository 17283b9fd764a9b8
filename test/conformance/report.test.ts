/** The conformance harness's scoring: the suite's summary as printed, regressions, the exit decision. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatewayBelow, parseSummary, regressions, scenarioOfFolder, table, totals, type SuiteRun } from './report.ts';

// The tail of a real `--requirements 2026-07-28` run (0.2.0-alpha.12).
const SUMMARY = `=== SUMMARY ===
✓ server-stateless: 30 passed, 0 failed
✗ tasks-lifecycle: 1 passed, 8 failed
✓ tasks-status-notifications: 0 passed, 0 failed
✓ http-header-validation: 14 passed, 0 failed

Total: 45 passed, 8 failed

Not scored for 2026-07-28: 3 scenario(s) run, 1 failing. These do not affect conformance.
  ✗ tasks-lifecycle (extension)
  ✓ tasks-status-notifications (extension)
  ✓ http-header-validation (pending)
`;

test('parseSummary reads the verdicts and the not-scored list', () => {
  const s = parseSummary(SUMMARY);
  assert.deepEqual(Object.keys(s), [
    'server-stateless',
    'tasks-lifecycle',
    'tasks-status-notifications',
    'http-header-validation',
  ]);
  assert.deepEqual(s['server-stateless'], { ok: true, passed: 30, failed: 0 });
  assert.deepEqual(s['tasks-lifecycle'], { ok: false, passed: 1, failed: 8, notScored: 'extension' });
  assert.equal(s['http-header-validation'].notScored, 'pending');
  assert.deepEqual(totals(s), { scenarios: 4, passing: 3, checksPassed: 45, checksFailed: 8 });
  assert.deepEqual(totals(s, true), { scenarios: 1, passing: 1, checksPassed: 30, checksFailed: 0 });
});

test('scenarioOfFolder names the scenario of a result folder', () => {
  assert.equal(
    scenarioOfFolder('server-input-required-result-multi-round-2026-11-24T11-05-39-013Z'),
    'input-required-result-multi-round',
  );
  assert.equal(scenarioOfFolder('notes.txt'), undefined);
});

test('a scenario passing directly but not through the gateway puts the gateway below, even at equal counts', () => {
  const direct: SuiteRun = {
    suite: 'all',
    scores: { a: { ok: true, passed: 1, failed: 0 }, b: { ok: false, passed: 0, failed: 1 } },
  };
  const same: SuiteRun = {
    suite: 'all',
    scores: { a: { ok: true, passed: 1, failed: 0 }, b: { ok: false, passed: 0, failed: 1 } },
  };
  const swapped: SuiteRun = {
    suite: 'all',
    scores: { a: { ok: false, passed: 0, failed: 1 }, b: { ok: true, passed: 1, failed: 0 } },
  };
  assert.equal(gatewayBelow(direct, same), false);
  assert.deepEqual(regressions(direct.scores, swapped.scores), ['a']);
  assert.equal(gatewayBelow(direct, swapped), true);
  assert.equal(gatewayBelow(direct, undefined), true);
  assert.equal(gatewayBelow(direct, { suite: 'all', scores: {}, error: 'no summary' }), true);
  assert.match(
    table(direct, undefined, 'gatehouse exited with 1'),
    /\*\*the run through gatehouse failed:\*\* gatehouse exited with 1/,
  );
  assert.match(
    table(direct, swapped),
    /\| a \| ✓ 1\/1 \| ✗ 0\/1 \|[\s\S]*passes directly but not through gatehouse:\*\* a/,
  );
});

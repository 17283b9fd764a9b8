/**
 * The official MCP conformance suite against our fixture: directly, every scenario of the released
 * suite (`active` and `all`) and every scored scenario of the 2026-07-28 requirements passes; through
 * Gatehouse, no scored scenario that passes directly fails. `npm run conformance` prints the tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runConformance, SUITES, type ConformanceRun } from './run.ts';
import { regressions, type SuiteScores } from './report.ts';

const cli = join(ROOT, 'src/cli/main.ts');
const hasGateway = existsSync(cli);
/** One run for both tests: the fixture directly, then (when the cli exists) through Gatehouse. */
let shared: Promise<ConformanceRun> | undefined;
const run = () => (shared ??= runConformance(Object.keys(SUITES), { directOnly: !hasGateway }));

const failing = (s: SuiteScores, scoredOnly: boolean) =>
  Object.keys(s).filter((k) => !s[k].ok && !(scoredOnly && s[k].notScored));
const detail = (s: SuiteScores, names: string[]) =>
  names.map((n) => `${n}: ${(s[n]?.failures ?? ['did not run']).join('; ')}`).join('\n');

test('conformance, direct: the fixture passes the released suites and the scored 2026-07-28 requirements', {
  timeout: 90_000,
}, async () => {
  for (const r of (await run()).direct) {
    assert.equal(r.error, undefined, `suite ${r.suite} ran`);
    assert.ok(Object.keys(r.scores).length >= 30, `suite ${r.suite} ran ${Object.keys(r.scores).length} scenarios`);
    const bad = failing(r.scores, r.suite === '2026-07-28');
    assert.deepEqual(bad, [], `suite ${r.suite}, failing directly:\n${detail(r.scores, bad)}`);
  }
});

test('conformance, through gatehouse: no scored scenario that passes directly fails', {
  timeout: 90_000,
  skip: hasGateway ? false : `the gatehouse cli (${cli}) does not exist yet`,
}, async (t) => {
  const { direct, gateway, gatewayError } = await run();
  assert.equal(gatewayError, undefined, 'gatehouse started in front of the fixture');
  for (const d of direct) {
    const g = gateway?.find((x) => x.suite === d.suite);
    assert.ok(g && !g.error, `suite ${d.suite} ran through gatehouse${g?.error ? `: ${g.error}` : ''}`);
    const lost = regressions(d.scores, g.scores);
    const scoredLost = lost.filter((s) => !d.scores[s].notScored);
    if (lost.length > scoredLost.length)
      t.diagnostic(
        `suite ${d.suite}, not scored, passes directly only: ${lost.filter((s) => d.scores[s].notScored).join(', ')}`,
      );
    assert.deepEqual(
      scoredLost,
      [],
      `suite ${d.suite}, passes directly but not through gatehouse:\n${detail(g.scores, scoredLost)}`,
    );
  }
});

test('conformance, a server whose tools ask by server-to-client request (as reference servers do): the released `active` suite scores the same through gatehouse', {
  timeout: 90_000,
  skip: hasGateway ? false : `the gatehouse cli (${cli}) does not exist yet`,
}, async () => {
  // Gatehouse talks 2026-07-28 to this dual-era server; the suite's 2025-11-25 clients that can answer
  // sampling and elicitation are served over a 2025-11-25 session, where the server can ask them.
  const { direct, gateway, gatewayError } = await runConformance(['active'], { tools: 'classic' });
  assert.equal(gatewayError, undefined, 'gatehouse started in front of the fixture');
  const d = direct[0];
  const g = gateway?.[0];
  assert.ok(g && !g.error && !d.error, 'the suite ran directly and through gatehouse');
  assert.deepEqual(failing(d.scores, false), [], `failing directly:\n${detail(d.scores, failing(d.scores, false))}`);
  const lost = regressions(d.scores, g.scores);
  assert.deepEqual(lost, [], `passes directly but not through gatehouse:\n${detail(g.scores, lost)}`);
  for (const s of [
    'tools-call-sampling',
    'tools-call-elicitation',
    'elicitation-sep1034-defaults',
    'elicitation-sep1330-enums',
  ])
    assert.ok(g.scores[s]?.ok, `${s} passes through gatehouse`);
});

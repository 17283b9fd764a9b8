/**
 * The MCP conformance suite (server scenarios, active suite) through Gatehouse in front of our
 * fixture scores what the fixture scores directly: no scenario that passes directly fails through
 * the gateway. `npm run conformance` runs every suite and prints the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, regressions, scenarioOf, score, table, totals } from './run.ts';

test('scores count checks as the suite does and name the scenario of a result directory', () => {
  const s = score([
    { id: 'a', status: 'SUCCESS' },
    { id: 'b', status: 'INFO' },
    { id: 'c', status: 'WARNING', errorMessage: 'no retry field' },
    { id: 'd', status: 'FAILURE', errorMessage: 'tool call failed' },
  ]);
  assert.deepEqual(s, { passed: 1, failed: 1, warnings: 1, problems: ['warning c: no retry field', 'failure d: tool call failed'] });
  assert.equal(scenarioOf('server-tools-call-simple-text-2026-11-24T10-36-19-261Z'), 'tools-call-simple-text');
  assert.equal(scenarioOf('notes.txt'), undefined);
  const ok = { passed: 1, failed: 0, warnings: 0, problems: [] };
  const none = { passed: 0, failed: 0, warnings: 2, problems: [] };
  assert.deepEqual(regressions({ a: ok, b: ok, c: ok, d: none }, { a: ok, b: none, d: ok }), ['b', 'c']);
  assert.deepEqual(regressions({ 'server-sse-polling': ok }, { 'server-sse-polling': none }), [], 'optional behaviour may score nothing');
});

test('conformance (active suite): through Gatehouse scores what the fixture scores directly', { timeout: 90_000 }, async () => {
  const [r] = await compare(['active']);
  process.stdout.write(`${table(r)}\n`);
  const failed = (s: Record<string, { failed: number }>) => Object.entries(s).filter(([, v]) => v.failed > 0).map(([k]) => k);
  assert.ok(Object.keys(r.direct).length >= 30, `the suite ran (${Object.keys(r.direct).length} scenarios)`);
  assert.deepEqual(failed(r.direct), [], 'the fixture passes every active scenario directly');
  assert.deepEqual(Object.keys(r.gateway).sort(), Object.keys(r.direct).sort(), 'the same scenarios ran through the gateway');
  assert.deepEqual(r.regressions, [], 'no scenario passes directly but not through the gateway');
  assert.deepEqual(failed(r.gateway), [], 'and none fails through the gateway');
  assert.ok(totals(r.gateway).passed > 0);
});

/**
 * The MCP conformance suite (server scenarios, active suite) through Gatehouse in front of our
 * fixture scores what the fixture scores directly: no scenario that passes directly fails through
 * the gateway. `npm run conformance` runs both suites and prints the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare } from './run.ts';

test('conformance (active suite): through Gatehouse scores what the fixture scores directly', { timeout: 240_000 }, async () => {
  const [r] = await compare(['active']);
  const failed = (s: Record<string, { failed: number }>) => Object.entries(s).filter(([, v]) => v.failed > 0).map(([k]) => k);
  assert.deepEqual(failed(r.direct), [], 'the fixture passes every active scenario directly');
  assert.ok(Object.keys(r.direct).length >= 30, `the suite ran (${Object.keys(r.direct).length} scenarios)`);
  assert.deepEqual(Object.keys(r.gateway).sort(), Object.keys(r.direct).sort(), 'the same scenarios ran through the gateway');
  assert.deepEqual(failed(r.gateway), [], 'and every one passes through the gateway');
});

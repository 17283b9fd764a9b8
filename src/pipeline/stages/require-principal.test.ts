import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePrincipal } from './require-principal.ts';
import { deps, principal, state, thrown } from './fakes.test-util.ts';

test('a request with a verified principal goes on, touching nothing else', async () => {
  const s = state({ ctx: { principal: principal() } });
  await requirePrincipal(s, deps());
  assert.equal(s.route, undefined);
});

test('a request without a principal is refused as unauthenticated, before anything is routed', async () => {
  const s = state({ ctx: { principal: undefined as never } });
  const err = await thrown(() => requirePrincipal(s, deps()));
  assert.equal(err.code, 'E_UNAUTHENTICATED');
  assert.equal(s.route, undefined);
});

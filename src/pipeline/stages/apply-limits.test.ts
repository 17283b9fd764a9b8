import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LimitCall, Limiter } from '../../limits/limiter.ts';
import { applyLimits } from './apply-limits.ts';
import { deps, principal, state, thrown } from './fakes.test-util.ts';

function limited(answer: Awaited<ReturnType<Limiter['acquire']>>) {
  const asked: LimitCall[] = [];
  const limiter: Limiter = {
    acquire: async (c) => {
      asked.push(c);
      return answer;
    },
    endTask: async () => {},
    close: async () => {},
  };
  return { limiter, asked };
}
const call = () => {
  const s = state({
    requested: 'mt__write',
    ctx: { principal: principal({ subject: 'alice', tenant: 'acme', issuer: 'https://idp.example' }) },
  });
  s.route = { server: 'mt', tool: 'write', def: {}, qualified: 'mt__write', item: 'write' };
  return s;
};

test('without a limiter nothing is limited', async () => {
  const s = call();
  await applyLimits(s, deps({ limiter: undefined }));
  assert.equal(s.lease, undefined);
});

test('the budget is keyed by the verified principal (its key: issuer, subject, tenant), its tenant and the namespaced tool; the lease is kept for release', async () => {
  let released = 0;
  const { limiter, asked } = limited({ ok: true, release: async () => void released++, holdForTask: async () => {} });
  const s = call();
  await applyLimits(s, deps({ limiter }));
  assert.deepEqual(asked, [{ tenant: 'acme', subject: s.ctx.principal.key, tool: 'mt__write', continuation: false }]);
  assert.notEqual(asked[0].subject, 'alice', "two issuers' `alice` are two budgets");
  await s.lease!.release();
  assert.equal(released, 1);
});

test('a refusal says which rule, and when to retry', async () => {
  const { limiter } = limited({ ok: false, rule: 'per-user', retryAfterMs: 1500, reason: '10 calls per minute' });
  const s = call();
  const err = await thrown(() => applyLimits(s, deps({ limiter })));
  assert.deepEqual(
    [err.code, err.message, err.data],
    [
      'E_RATE_LIMITED',
      'rate limited (per-user): 10 calls per minute; retry in 2 s',
      { rule: 'per-user', retryAfterMs: 1500 },
    ],
  );
  assert.equal(s.lease, undefined);
});

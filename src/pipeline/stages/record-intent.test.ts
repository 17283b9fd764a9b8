import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Audit } from '../../audit/audit.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { ToolClass } from '../types.ts';
import { recordIntent } from './record-intent.ts';
import { deps, state, thrown } from './fakes.test-util.ts';
import { SecretScrubber } from '../../credentials/scrub.ts';

function audit(store: 'up' | 'down', readWhenUnavailable: 'allow' | 'refuse' = 'refuse') {
  const appended: unknown[] = [];
  const a = {
    config: { readWhenUnavailable },
    recorder: {
      intent: (s: { method: string }, secrets: readonly string[]) => ({
        kind: 'call.intent',
        method: s.method,
        secrets,
      }),
    },
    intent: async (r: unknown) => {
      if (store === 'down') throw new Error('store unavailable');
      appended.push(r);
      return { id: 'evt-1', ...(r as object) };
    },
  };
  let failOpen = 0;
  const metrics = { auditFailOpen: { inc: () => void failOpen++ } };
  const scrubber = new SecretScrubber();
  scrubber.update(['acme-secret-value', 'globex-secret-value']);
  return {
    d: deps({ audit: a as never as Audit, metrics: metrics as never as Metrics, credentials: { scrubber } as never }),
    appended,
    failOpen: () => failOpen,
  };
}
const call = (cls: ToolClass) => Object.assign(state({ method: 'tools/call' }), { toolClass: cls });

test("the write-ahead record is appended and kept on the call, redacted of every tenant's injected secrets", async () => {
  const { d, appended } = audit('up');
  const s = Object.assign(call('WRITE'), { injected: ['acme-secret-value'] });
  await recordIntent(s, d);
  const secrets = ['acme-secret-value', 'globex-secret-value'];
  assert.deepEqual(appended, [{ kind: 'call.intent', method: 'tools/call', secrets }]);
  assert.equal(s.intent!.id, 'evt-1');
});

test('when the audit store cannot take it the call is refused (fail closed), READ ones too unless the operator allowed them', async () => {
  for (const cls of ['WRITE', 'DESTRUCTIVE'] as const) {
    const { d } = audit('down', 'allow');
    const err = await thrown(() => recordIntent(call(cls), d));
    assert.deepEqual(
      [err.code, err.message],
      ['E_AUDIT_UNAVAILABLE', 'the audit trail cannot be written, so calls that change things are refused'],
    );
  }
  const refuse = audit('down', 'refuse');
  const err = await thrown(() => recordIntent(call('READ'), refuse.d));
  assert.deepEqual(
    [err.code, err.message],
    ['E_AUDIT_UNAVAILABLE', 'the audit trail cannot be written, so calls are refused'],
  );
  const unclassified = await thrown(() => recordIntent(state(), audit('down', 'allow').d));
  assert.equal(unclassified.code, 'E_AUDIT_UNAVAILABLE', 'an unclassified call is not a READ');
});

test('a READ call goes on without a record when the operator chose `readWhenUnavailable: allow`, counted', async () => {
  const { d, failOpen } = audit('down', 'allow');
  const s = call('READ');
  await recordIntent(s, d);
  assert.equal(s.intent, undefined);
  assert.equal(failOpen(), 1);
});

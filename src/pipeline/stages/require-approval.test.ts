import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApprovalService } from '../../approvals/service.ts';
import type { ApprovalRequest, BoundCall } from '../../model/approval.ts';
import type { JsonObject } from '../../protocol/jsonrpc.ts';
import type { RequestContext } from '../../gateway/context.ts';
import { requireApproval } from './require-approval.ts';
import { deps, principal, state, thrown } from './fakes.test-util.ts';

const STATE = 'gha1.apr_1.mac';

/** An approval service that keeps one request and notes every call made to it. */
function approvals(over: { status?: ApprovalRequest['status']; consume?: 'ok' | 'refused'; cap?: boolean } = {}) {
  const calls: Array<[string, ...unknown[]]> = [];
  const req = {
    id: 'apr_1',
    status: over.status ?? 'pending',
    summary: 'write `/srv/a.txt`',
    expiresAt: Date.UTC(2026, 0, 1),
    decisions: [{ by: { subject: 'carol' } }],
  } as unknown as ApprovalRequest;
  const svc: Partial<ApprovalService> = {
    open: (s: unknown) => (s === STATE ? 'apr_1' : undefined),
    isOurs: (s: unknown) => typeof s === 'string' && s.startsWith('gha1.'),
    seal: (id: string) => `sealed:${id}`,
    pageUrl: (id: string) => `https://gw.example/approvals/${id}`,
    create: async (input) => {
      calls.push(['create', input]);
      return over.cap ? 'cap' : req;
    },
    consume: async (id: string, call: BoundCall) => {
      calls.push(['consume', id, call]);
      const answer =
        over.consume === 'refused'
          ? { ok: false, code: 'binding_changed', message: 'the arguments changed' }
          : { ok: true, request: req };
      return answer as never;
    },
    get: async (id: string) => {
      calls.push(['get', id]);
      return req;
    },
  };
  return { approvals: svc as ApprovalService, calls };
}

function call(params: JsonObject, c: Partial<RequestContext> = {}) {
  const s = state({
    requested: 'mt__write',
    params: { name: 'mt__write', arguments: { path: '/srv/link.txt' }, ...params },
    ctx: { principal: principal({ roles: ['dev'] }), ...c },
  });
  s.route = { server: 'mt', tool: 'write', def: {}, qualified: 'mt__write', item: 'write' };
  // What validate made canonical (here: the real path behind a link) is what runs.
  s.upstream = { ...s.params, name: 'write', arguments: { path: '/srv/real.txt' } };
  s.toolClass = 'WRITE';
  s.toolPin = 'sha256:pin';
  s.decision = {
    effect: 'approval',
    rule: 'writes',
    reasons: [],
    policyRevision: 'rev1',
    approvers: { roles: ['lead'] },
  };
  return s;
}

const bound = (s: ReturnType<typeof call>): BoundCall => ({
  tenant: 'acme',
  principalKey: s.ctx.principal.key,
  client: 'claude',
  server: 'mt',
  tool: 'mt__write',
  args: { path: '/srv/real.txt' },
  pin: 'sha256:pin',
  policyRevision: 'rev1',
  // No session and no run label: the call's trace (src/audit/calls.ts runIdOf).
  runId: 'trace-1',
});

test('a call policy does not send to a person passes untouched', async () => {
  const { approvals: a, calls } = approvals();
  const s = call({});
  s.decision = { effect: 'allow', rule: 'r', reasons: [] };
  await requireApproval(s, deps({ approvals: a }));
  assert.deepEqual([calls, s.halt, s.result], [[], undefined, undefined]);
});

test('a modern caller gets input_required with the page and a sealed request state; the approver sees exactly what will run', async () => {
  const { approvals: a, calls } = approvals();
  const s = call({}, { era: 'modern' });
  await requireApproval(s, deps({ approvals: a, approvalWaitMs: 0 }));
  assert.equal(s.halt, true);
  assert.equal(s.result!.resultType, 'input_required');
  assert.equal(s.result!.requestState, 'sealed:apr_1');
  const ask = (s.result!.inputRequests as JsonObject)['approval-apr_1'] as JsonObject;
  assert.deepEqual(
    [ask.method, (ask.params as JsonObject).mode, (ask.params as JsonObject).url],
    ['elicitation/create', 'url', 'https://gw.example/approvals/apr_1'],
  );
  const [kind, input] = calls[0] as [
    string,
    { call: BoundCall; shownArgs: unknown; roles: string[]; rule: string; approvers: unknown; toolClass: string },
  ];
  assert.equal(kind, 'create');
  assert.deepEqual(input.call, bound(s));
  assert.deepEqual(
    input.shownArgs,
    { path: '/srv/real.txt' },
    'shown as they run, never the path as the caller wrote it',
  );
  assert.deepEqual(
    [input.roles, input.rule, input.approvers, input.toolClass],
    [['dev'], 'writes', { roles: ['lead'] }, 'WRITE'],
  );
  assert.deepEqual(s.approval, { id: 'apr_1', status: 'pending' });
});

test('a legacy caller that cannot wait gets a pending result naming the approval and how to retry; nothing ran', async () => {
  const { approvals: a } = approvals();
  const s = call({});
  await requireApproval(s, deps({ approvals: a, approvalWaitMs: 0 }));
  assert.equal(s.halt, true);
  assert.equal(s.result!.isError, true);
  assert.match(
    JSON.stringify(s.result!.content),
    /Approval apr_1 is pending at https:\/\/gw\.example\/approvals\/apr_1.*Nothing ran/,
  );
  assert.deepEqual((s.result!._meta as JsonObject)['io.gatehouse/approval'], {
    id: 'apr_1',
    url: 'https://gw.example/approvals/apr_1',
    status: 'pending',
    expiresAt: '2026-01-01T00:00:00.000Z',
  });
});

test('a legacy caller that waits goes on once a person approved, using the approval for this exact call', async () => {
  const { approvals: a, calls } = approvals({ status: 'approved' });
  const s = call({ _meta: { progressToken: 7, 'acme.example/dangerous': 'not shown to the approver' } });
  s.upstream!._meta = { ...(s.params._meta as JsonObject) };
  await requireApproval(s, deps({ approvals: a, approvalWaitMs: 5000 }));
  assert.equal(s.halt, undefined);
  assert.deepEqual(s.approval, { id: 'apr_1', status: 'approved', approvers: ['carol'] });
  // As on a retry: of the caller's `_meta` only the progress token goes upstream.
  assert.deepEqual(s.upstream!._meta, { progressToken: 7 });
  assert.deepEqual(
    calls.find(([k]) => k === 'consume'),
    ['consume', 'apr_1', bound(s)],
  );
  const denied = approvals({ status: 'denied' });
  const err = await thrown(() =>
    requireApproval(call({}), deps({ approvals: denied.approvals, approvalWaitMs: 5000 })),
  );
  assert.deepEqual([err.code, err.data], ['E_APPROVAL_REFUSED', { approval: 'apr_1', status: 'denied' }]);
});

test('what the agent answers is never an approval: an accepted elicitation still leaves the call pending', async () => {
  const { approvals: a, calls } = approvals();
  const abort = new AbortController();
  const asked: unknown[] = [];
  // The agent accepts at once; the call keeps waiting for a person (here: until the caller gives up).
  const outlet = {
    notify: () => {},
    ask: async (method: string, params: JsonObject) => {
      asked.push([method, params]);
      setTimeout(() => abort.abort(), 400);
      return { result: { action: 'accept' } };
    },
  };
  const s = call({}, { clientCapabilities: { elicitation: { url: {} } }, outlet, signal: abort.signal });
  await requireApproval(s, deps({ approvals: a, approvalWaitMs: 0 }));
  assert.equal(asked.length, 1);
  assert.equal(s.halt, true);
  assert.equal((s.result!._meta as JsonObject)['io.gatehouse/approval'] !== undefined, true);
  assert.ok(
    calls.some(([k]) => k === 'get'),
    'it looked for a decision',
  );
  assert.equal(
    calls.some(([k]) => k === 'consume'),
    false,
  );
});

test('a presented approval is used once for this exact call; the round-trip fields do not go upstream', async () => {
  for (const params of [
    { _meta: { 'io.gatehouse/approval': 'apr_1' } },
    { requestState: STATE, inputResponses: { x: {} } },
  ]) {
    const { approvals: a, calls } = approvals();
    const s = call(params as JsonObject, { era: 'modern' });
    await requireApproval(s, deps({ approvals: a }));
    assert.deepEqual(calls, [['consume', 'apr_1', bound(s)]]);
    assert.deepEqual(s.approval, { id: 'apr_1', status: 'approved', approvers: ['carol'] });
    assert.equal(s.params.requestState, undefined);
    assert.equal(s.params.inputResponses, undefined);
    assert.equal(s.upstream!.requestState, undefined, 'the sealed state never goes upstream');
    assert.equal(s.upstream!.inputResponses, undefined);
    assert.deepEqual(s.upstream!.arguments, { path: '/srv/real.txt' });
    assert.equal(s.halt, undefined);
  }
});

test('an approval that cannot be used for this call, an altered request state, or too many pending are refused', async () => {
  const refused = approvals({ consume: 'refused' });
  const err = await thrown(() =>
    requireApproval(call({ _meta: { 'io.gatehouse/approval': 'apr_1' } }), deps({ approvals: refused.approvals })),
  );
  assert.deepEqual([err.code, err.data], ['E_APPROVAL_REFUSED', { approval: 'apr_1', code: 'binding_changed' }]);
  const altered = approvals();
  const state2 = await thrown(() =>
    requireApproval(
      call({ requestState: 'gha1.apr_1.forged' }, { era: 'modern' }),
      deps({ approvals: altered.approvals }),
    ),
  );
  assert.equal(state2.code, 'E_INPUT_STATE');
  assert.deepEqual(altered.calls, [], 'nothing consumed, nothing created');
  const cap = approvals({ cap: true });
  const capped = await thrown(() => requireApproval(call({}, { era: 'modern' }), deps({ approvals: cap.approvals })));
  assert.equal(capped.code, 'E_APPROVAL_REQUIRED');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CallRecorder } from '../audit/calls.ts';
import type { AuditInput } from '../audit/log.ts';
import { Liveness } from '../audit/liveness.ts';
import { silentLogger } from '../observability/logger.ts';
import type { AuditConfig } from '../config/schema.ts';
import { KNOWN_METHODS } from './dispatch.ts';
import { TaskHandles } from '../gateway/tasks.ts';
import { SecretScrubber } from '../credentials/scrub.ts';
import { SchemaValidators } from '../policy/arguments.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { LOCAL_METHODS, TOOL_CALL_PIPELINE, UPSTREAM_METHODS, runRequest } from './index.ts';
import type { PipelineDeps } from './types.ts';
import { routeCompletion } from './stages/route-completion.ts';
import { routePrompt } from './stages/route-prompt.ts';
import { routeResource } from './stages/route-resource.ts';
import { routeTask } from './stages/route-task.ts';
import { routeTool } from './stages/route-tool.ts';
import { catalogOf, ctx, deps, fakeUpstream, policyOf, principal, thrown } from './stages/fakes.test-util.ts';

const ORDER = [
  'authenticate',
  'route',
  'classify',
  'authorize',
  'validate',
  'decide',
  'inspect',
  'limit',
  'approve',
  'connect',
  'recheck',
  'record',
  'execute',
  'redact',
];
const ROUTES: Record<string, unknown> = {
  'tools/call': routeTool,
  'prompts/get': routePrompt,
  'resources/read': routeResource,
  'resources/subscribe': routeResource,
  'resources/unsubscribe': routeResource,
  'completion/complete': routeCompletion,
  'tasks/get': routeTask,
  'tasks/result': routeTask,
  'tasks/cancel': routeTask,
};

test('the method table: the tools/call order, every row a subsequence of it with a reason for each stage it skips, and exactly the known methods', () => {
  assert.deepEqual(
    TOOL_CALL_PIPELINE.map(([n]) => n),
    ORDER,
  );
  assert.deepEqual(Object.keys(UPSTREAM_METHODS).sort(), Object.keys(ROUTES).sort());
  const byName = new Map(TOOL_CALL_PIPELINE);
  for (const [method, row] of Object.entries(UPSTREAM_METHODS)) {
    const names = row.stages.map(([n]) => n);
    // A subsequence of the tools/call order: same relative order, nothing added, nothing twice.
    assert.deepEqual(
      names,
      ORDER.filter((n) => names.includes(n)),
      `${method}: stages out of order or unknown: ${names.join(', ')}`,
    );
    assert.equal(new Set(names).size, names.length, `${method}: a stage twice`);
    const skipped = ORDER.filter((n) => !names.includes(n));
    assert.deepEqual(
      Object.keys(row.skips).sort(),
      [...skipped].sort(),
      `${method}: every skipped stage, and only those, has a reason`,
    );
    for (const n of skipped)
      assert.ok(
        typeof row.skips[n] === 'string' && row.skips[n].trim().length > 10,
        `${method}: skipping ${n} needs a reason`,
      );
    // Never skippable: who is calling, visibility, credentials on their way out (every row's params
    // reach an upstream: tasks/* skipped it, and a caller's `_meta` went on unchecked), the write-ahead
    // record, redaction.
    for (const n of [
      'authenticate',
      'route',
      'classify',
      'authorize',
      'inspect',
      'connect',
      'record',
      'execute',
      'redact',
    ])
      assert.ok(names.includes(n), `${method} skips ${n}`);
    // Only the route stage differs between rows; every other stage is the tools/call row's own.
    for (const [n, stage] of row.stages)
      assert.equal(stage, n === 'route' ? ROUTES[method] : byName.get(n), `${method}: ${n}`);
  }
  const upstream = Object.keys(UPSTREAM_METHODS);
  const local = Object.keys(LOCAL_METHODS);
  assert.deepEqual(
    upstream.filter((m) => local.includes(m)),
    [],
    'a method is either answered by the gateway or reaches an upstream',
  );
  assert.deepEqual([...KNOWN_METHODS].sort(), [...upstream, ...local].sort());
  for (const [m, why] of Object.entries(LOCAL_METHODS)) assert.ok(why.trim().length > 10, `${m} needs a reason`);
});

const AUDIT_CONFIG = {
  arguments: 'redacted',
  results: 'shape',
  redact: { fields: [], paths: [] },
} as unknown as AuditConfig;

async function pipelineDeps() {
  const { catalog, upstreams } = await catalogOf({ mt: { tools: [{ name: 'write' }] } });
  const records: AuditInput[] = [];
  const calls: unknown[][] = [];
  const spent: unknown[][] = [];
  const audit = {
    recorder: new CallRecorder(AUDIT_CONFIG),
    record: async (r: AuditInput) => void records.push(r),
    liveness: new Liveness({} as never, silentLogger()), // no silence: the store is never asked
    outcome: async (r: AuditInput) => void records.push(r),
  };
  const d = deps({
    catalog,
    upstreams,
    audit: audit as never,
    metrics: { recordCall: (...a: unknown[]) => void calls.push(a) } as never,
    credentials: { scrubber: { value: <T>(v: T) => v, valuesWith: () => [] } } as never,
    inventory: { tool: () => ({ pin: 'p', quarantine: null, serverQuarantine: null, class: 'WRITE' }) } as never,
    identity: { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never,
    refusals: { check: () => {}, spend: async (...a: unknown[]) => void spent.push(a) } as never,
  });
  return { d, records, calls, spent };
}

/** Deps that throw on any use: nothing of the pipeline may run. */
const untouchable = new Proxy(
  {},
  {
    get: (_, k) => {
      throw new Error(`deps.${String(k)} was used`);
    },
  },
) as PipelineDeps;

test('runRequest refuses a method outside the table with -32601, touching nothing', async () => {
  for (const method of [
    'tasks/list',
    'sampling/createMessage',
    'roots/list',
    'tools/list',
    'initialize',
    'admin/anything',
    '',
  ]) {
    const err = await thrown(() => runRequest(ctx(), method, { name: 'mt__write' }, untouchable));
    assert.deepEqual([err.code, err.rpc], ['E_METHOD_NOT_FOUND', -32601], method);
  }
});

test('a method named like a property every object has is outside the table too', async () => {
  for (const method of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    const err = await thrown(() => runRequest(ctx(), method, { undefined: 'x' }, deps()));
    assert.deepEqual([err.code, err.rpc], ['E_METHOD_NOT_FOUND', -32601], method);
  }
});

test('a target that is not a non-empty string is invalid params', async () => {
  for (const [method, params] of [
    ['tools/call', {}],
    ['tools/call', { name: '' }],
    ['resources/read', { uri: 7 }],
    ['completion/complete', { ref: { type: 'ref/tool', name: 'x' } }],
    ['tasks/get', { taskId: ['x'] }],
  ] as const) {
    const err = await thrown(() => runRequest(ctx(), method, params as never, deps()));
    assert.equal(err.code, 'E_INVALID_PARAMS', `${method} ${JSON.stringify(params)}`);
  }
});

test('a request refused at a stage writes one refusal record naming the stage and the error, and counts the call', async () => {
  const { d, records, calls, spent } = await pipelineDeps();
  const p = principal({ tenant: 'acme', subject: 'alice' });
  const err = await thrown(() =>
    runRequest(ctx({ principal: p }), 'tools/call', { name: 'mt__nope', arguments: { path: '/srv/a' } }, d),
  );
  assert.equal(err.code, 'E_UNKNOWN_TOOL');
  assert.equal(records.length, 1);
  const r = records[0];
  assert.deepEqual(
    [r.kind, r.outcome, r.stage, r.error, r.method, r.tool],
    ['call.refused', 'refused', 'route', 'E_UNKNOWN_TOOL', 'tools/call', 'mt__nope'],
  );
  assert.deepEqual(r.actor, { subject: 'alice', tenant: 'acme', via: 'api-key', issuer: 'gatehouse' });
  assert.match(String(r.argsHash), /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(
    calls.map((c) => c.slice(0, 3)),
    [['', '', 'E_UNKNOWN_TOOL']],
    'counted; a name the caller made up is no metrics label',
  );
  assert.deepEqual(spent, [['acme', p.key, 'E_UNKNOWN_TOOL']], "the refusal spends the principal's refusal budget");
  // Refused later, at authorize (a read-only gateway hides a WRITE tool): the record says so.
  const later = await pipelineDeps();
  const ro = deps({
    ...Object.fromEntries(
      ['catalog', 'upstreams', 'audit', 'metrics', 'credentials', 'inventory', 'identity', 'refusals'].map((k) => [
        k,
        (later.d as never)[k],
      ]),
    ),
    modes: { gateway: 'read_only', tenants: {}, servers: {}, tools: {} },
  });
  await thrown(() => runRequest(ctx({ principal: p }), 'tools/call', { name: 'mt__write' }, ro));
  assert.deepEqual(
    later.records.map((x) => [x.kind, x.stage, x.error, x.tool, x.class]),
    [['call.refused', 'authorize', 'E_UNKNOWN_TOOL', 'mt__write', 'WRITE']],
  );
});

const SECRET = 'tenant-token-5e8c2a9f1d';

/** Every stage's deps, faked small: a real catalogue, policy, schema validators and scrubber; the rest hand-written. */
async function fullDeps() {
  const events: unknown[][] = [];
  const up = fakeUpstream();
  up.request = (async (method: string, params: JsonObject) => {
    events.push(['upstream', method, params]);
    return { content: [{ type: 'text', text: `fetched with ${SECRET}` }] };
  }) as never;
  const { catalog, upstreams } = await catalogOf({
    mt: {
      tools: [
        {
          name: 'fetch',
          inputSchema: {
            type: 'object',
            properties: { url: { type: 'string' } },
            required: ['url'],
            additionalProperties: false,
          },
        },
      ],
    },
  });
  const policy = policyOf(`
resources:
  - { tool: mt__fetch, resource: { kind: url, arg: url } }
rules:
  - { id: docs, subjects: { tenants: [acme] }, tools: [mt__fetch], resources: ['https://docs.example/*'], effect: allow }
`);
  const audit = {
    config: { readWhenUnavailable: 'refuse' },
    recorder: new CallRecorder(AUDIT_CONFIG),
    liveness: new Liveness({} as never, silentLogger()), // no silence: the store is never asked
    intent: async (r: AuditInput) => {
      events.push(['intent', r]);
      return { ...r, id: 'evt-intent' };
    },
    record: async (r: AuditInput) => void events.push(['record', r]),
    outcome: async (r: AuditInput) => void events.push(['record', r]),
  };
  const d = deps({
    catalog,
    upstreams,
    policy,
    modes: policy.modes,
    audit: audit as never,
    inventory: { tool: () => ({ pin: 'sha256:p', quarantine: null, serverQuarantine: null, class: 'READ' }) } as never,
    identity: { classScopes: () => [], recheck: async () => {}, revokedWithoutCredential: () => undefined } as never,
    validators: new SchemaValidators(),
    limiter: undefined,
    credentials: {
      configOf: (name: string) => ({ name, transport: 'http' }),
      pool: { get: async () => ({ up, values: [SECRET] }) },
      scrubber: new SecretScrubber(),
    } as never,
    tasks: new TaskHandles(randomBytes(32)),
    holds: {} as never,
    metrics: { recordCall: () => {} } as never,
  });
  return { d, events };
}

test('visibility before validation: a forbidden tool with malformed arguments is unknown, a usable one is told what is wrong; neither reaches the upstream', async () => {
  const { d, events } = await fullDeps();
  const bad = { name: 'mt__fetch', arguments: { url: 1, extra: true } };
  const forbidden = await thrown(() =>
    runRequest(ctx({ principal: principal({ tenant: 'globex' }) }), 'tools/call', bad, d),
  );
  const missing = await thrown(() =>
    runRequest(ctx({ principal: principal({ tenant: 'globex' }) }), 'tools/call', { ...bad, name: 'mt__nope' }, d),
  );
  assert.deepEqual(
    [forbidden.code, forbidden.message.replace('mt__fetch', 'X')],
    [missing.code, missing.message.replace('mt__nope', 'X')],
  );
  const usable = await thrown(() => runRequest(ctx(), 'tools/call', bad, d));
  assert.equal(usable.code, 'E_INVALID_ARGUMENTS');
  assert.deepEqual(
    events.filter(([k]) => k !== 'record'),
    [],
    'no intent, nothing upstream',
  );
  assert.deepEqual(
    events.map(([, r]) => [(r as AuditInput).stage, (r as AuditInput).error]),
    [
      ['authorize', 'E_UNKNOWN_TOOL'],
      ['route', 'E_UNKNOWN_TOOL'],
      ['validate', 'E_INVALID_ARGUMENTS'],
    ],
  );
});

test('a call that passes every stage: recorded before it goes out, sent canonical, answered scrubbed, closed by its outcome record', async () => {
  const { d, events } = await fullDeps();
  const r = await runRequest(
    ctx(),
    'tools/call',
    { name: 'mt__fetch', arguments: { url: 'https://DOCS.example/a/../b#x' } },
    d,
  );
  assert.deepEqual(
    events.map(([k]) => k),
    ['intent', 'upstream', 'record'],
    'the write-ahead record before anything reaches the upstream',
  );
  assert.deepEqual(events[1].slice(1), ['tools/call', { name: 'fetch', arguments: { url: 'https://docs.example/b' } }]);
  assert.ok(!JSON.stringify(r).includes(SECRET), JSON.stringify(r));
  const outcome = events[2][1] as AuditInput;
  assert.deepEqual(
    [outcome.kind, outcome.intent, outcome.outcome, outcome.decision?.rule],
    ['call.outcome', 'evt-intent', 'ok', 'docs'],
  );
  assert.ok(!JSON.stringify(outcome).includes(SECRET));
  // The same call to a URL policy does not allow is refused by decide, with nothing sent.
  const denied = await thrown(() =>
    runRequest(ctx(), 'tools/call', { name: 'mt__fetch', arguments: { url: 'https://evil.example/' } }, d),
  );
  assert.equal(denied.code, 'E_POLICY_DENIED');
  assert.deepEqual(
    events.slice(3).map(([k, x]) => [k, (x as AuditInput).stage]),
    [['record', 'decide']],
  );
});

test('whatever recording throws, the concurrency slot is given back first, the call counted and the refusal spent', async () => {
  const { d, events } = await fullDeps();
  const released: string[] = [];
  const spent: unknown[][] = [];
  const counted: unknown[][] = [];
  const lease = { ok: true, release: async () => void released.push('lease') };
  const rd = {
    ...d,
    limiter: { acquire: async () => lease },
    refusals: { check: () => {}, spend: async (...a: unknown[]) => void spent.push(a) },
    metrics: { recordCall: (...a: unknown[]) => void counted.push(a) },
    audit: {
      ...d.audit,
      // The store refuses the intent and then the refusal record too.
      intent: async () => Promise.reject(new Error('the audit store refused the write')),
      record: async () => {
        throw new Error('the audit store refused the write');
      },
    },
  } as unknown as PipelineDeps;
  const err = await thrown(() =>
    runRequest(ctx(), 'tools/call', { name: 'mt__fetch', arguments: { url: 'https://docs.example/a' } }, rd),
  );
  assert.match(String(err.message), /audit store refused/);
  assert.deepEqual(released, ['lease'], 'the slot is free for the next call, of any tenant');
  assert.equal(counted.length, 1);
  assert.equal(spent.length, 1, 'the refusal spent the budget though its record failed');
  assert.ok(!events.some(([k]) => k === 'upstream'), 'nothing went upstream without its intent record');
  // A release that throws (a limiter's store away) keeps nothing else from happening either.
  const throwing = {
    ...rd,
    limiter: {
      acquire: async () => ({
        ok: true,
        release: () => {
          throw new Error('gone');
        },
      }),
    },
  };
  await thrown(() =>
    runRequest(
      ctx(),
      'tools/call',
      { name: 'mt__fetch', arguments: { url: 'https://docs.example/a' } },
      throwing as never,
    ),
  );
  assert.equal(counted.length, 2);
  assert.equal(spent.length, 2);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  OtlpHttpExporter,
  Tracer,
  currentTraceparent,
  formatTraceparent,
  parseTraceparent,
  tracerFromEnv,
} from './tracing.ts';

const ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

test('traceparent: version 00 parsed; malformed, all-zero and version ff refused', () => {
  assert.deepEqual(parseTraceparent(`00-${ID}-${PARENT}-01`), {
    traceId: ID,
    spanId: PARENT,
    parentSpanId: PARENT,
    sampled: true,
  });
  assert.equal(parseTraceparent(`00-${ID}-${PARENT}-00`)?.sampled, false);
  for (const bad of [
    undefined,
    '',
    `00-${ID.toUpperCase()}-${PARENT}-01`,
    `00-${'0'.repeat(32)}-${PARENT}-01`,
    `00-${ID}-${'0'.repeat(16)}-01`,
    `ff-${ID}-${PARENT}-01`,
    `00-${ID}-${PARENT}`,
    `00-${ID}x-${PARENT}-01`,
  ]) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
  assert.equal(formatTraceparent({ traceId: ID, spanId: PARENT, sampled: true }), `00-${ID}-${PARENT}-01`);
});

function fakeReq(traceparent: string | string[] | undefined, address = '127.0.0.1') {
  return { headers: { traceparent }, socket: { remoteAddress: address } } as never;
}

test('a caller’s traceparent is believed only when trusted', () => {
  const exporter = { add() {}, close: async () => {} };
  const proxies = new Tracer({ exporter, trust: 'proxies', trustedProxies: () => ['10.0.0.5'] });
  const tp = `00-${ID}-${PARENT}-01`;
  assert.equal(proxies.trustedParent(fakeReq(tp, '10.0.0.5'), false)?.traceId, ID);
  assert.equal(proxies.trustedParent(fakeReq(tp, '::ffff:10.0.0.5'), false)?.traceId, ID);
  assert.equal(proxies.trustedParent(fakeReq(tp, '10.0.0.6'), true), undefined);
  assert.equal(proxies.trustedParent(fakeReq([tp, tp], '10.0.0.5'), false), undefined, 'two headers: neither');
  const auth = new Tracer({ exporter, trust: 'authenticated', trustedProxies: () => [] });
  assert.equal(auth.trustedParent(fakeReq(tp), true)?.traceId, ID);
  assert.equal(auth.trustedParent(fakeReq(tp), false), undefined);
  const never = new Tracer({ exporter, trust: 'never', trustedProxies: () => ['127.0.0.1'] });
  assert.equal(never.trustedParent(fakeReq(tp), true), undefined);
});

test('request and stage spans: parent links, ctx.traceId, the current traceparent inside a stage, errors', async () => {
  const spans: Array<Record<string, unknown>> = [];
  const tracer = new Tracer({
    exporter: { add: (s) => void spans.push(s as never), close: async () => {} },
    trust: 'proxies',
    trustedProxies: () => ['127.0.0.1'],
  });
  const ctx = { traceId: 'uuid', principal: { authenticated: false } };
  let inside: string | undefined;
  await tracer.request(ctx, 'tools/call', fakeReq(`00-${ID}-${PARENT}-01`), async () => {
    await tracer.stage(ctx, 'execute', async () => {
      inside = currentTraceparent();
    });
    await assert.rejects(
      tracer.stage(ctx, 'limit', () => {
        throw Object.assign(new Error('slow down'), { code: 'E_RATE_LIMITED' });
      }),
    );
  });
  assert.equal(ctx.traceId, ID);
  assert.equal(currentTraceparent(), undefined, 'outside any span');
  const [exec, limit, req] = spans as Array<{
    name: string;
    spanId: string;
    parentSpanId?: string;
    traceId: string;
    kind: number;
    status: { code: number };
  }>;
  assert.deepEqual([exec.name, limit.name, req.name], ['stage execute', 'stage limit', 'tools/call']);
  assert.equal(req.parentSpanId, PARENT);
  assert.equal(req.kind, 2);
  assert.equal(exec.parentSpanId, req.spanId);
  assert.equal(inside, `00-${ID}-${exec.spanId}-01`);
  assert.equal(limit.status.code, 2);
  assert.equal(req.status.code, 0);
  // Not sampled by the trusted parent: nothing exported, the trace id still kept.
  spans.length = 0;
  const ctx2 = { traceId: 'uuid', principal: { authenticated: false } };
  await tracer.request(ctx2, 'tools/call', fakeReq(`00-${ID}-${PARENT}-00`), async () =>
    tracer.stage(ctx2, 'route', () => {}),
  );
  assert.equal(spans.length, 0);
  assert.equal(ctx2.traceId, ID);
});

test('the exporter batches over OTLP/HTTP JSON, drops (counted) when the collector fails, and flushes on close', async () => {
  const bodies: Array<{
    resourceSpans: Array<{ resource: { attributes: Array<{ key: string }> }; scopeSpans: Array<{ spans: unknown[] }> }>;
  }> = [];
  let fail = false;
  const srv = createServer((req, res) => {
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => {
      if (fail) return void res.writeHead(503).end();
      assert.equal(req.url, '/v1/traces');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['x-api-key'], 'k1');
      bodies.push(JSON.parse(b));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    const exp = new OtlpHttpExporter({
      url: `${url}/v1/traces`,
      headers: { 'x-api-key': 'k1' },
      intervalMs: 60_000,
      maxBatch: 3,
    });
    const span = (i: number) => ({
      traceId: ID,
      spanId: `${i}`.padStart(16, '0'),
      name: `s${i}`,
      kind: 1,
      startTimeUnixNano: '1',
      endTimeUnixNano: '2',
      attributes: [],
      status: { code: 0 },
    });
    for (let i = 1; i <= 7; i++) exp.add(span(i));
    await exp.close();
    assert.deepEqual(
      bodies.map((b) => b.resourceSpans[0].scopeSpans[0].spans.length),
      [3, 3, 1],
    );
    assert.ok(bodies[0].resourceSpans[0].resource.attributes.some((a) => a.key === 'service.name'));
    assert.equal(exp.exported, 7);
    fail = true;
    const exp2 = new OtlpHttpExporter({ url: `${url}/v1/traces`, intervalMs: 60_000, maxQueue: 2, onError: () => {} });
    for (let i = 1; i <= 4; i++) exp2.add(span(i));
    await exp2.close();
    assert.equal(exp2.dropped, 4, 'two over the queue bound, two refused by the collector');
  } finally {
    srv.close();
  }
});

test('from the environment: off without an endpoint; the traces URL, headers and trust read', () => {
  const log = { debug() {}, warn() {} };
  assert.equal(
    tracerFromEnv({}, () => [], log),
    undefined,
  );
  assert.equal(
    tracerFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }, () => [], log),
    undefined,
  );
  const t = tracerFromEnv(
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/', GATEHOUSE_TRACEPARENT_TRUST: 'never' },
    () => ['127.0.0.1'],
    log,
  );
  assert.ok(t);
  assert.equal(t.trustedParent(fakeReq(`00-${ID}-${PARENT}-01`), true), undefined);
  void t.close();
});

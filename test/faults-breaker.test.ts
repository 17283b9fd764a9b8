/**
 * The circuit breaker of a running gateway: an upstream that keeps failing a tenant's calls opens
 * that tenant's circuit (here the anonymous loopback caller's, tenant `default`), after which its
 * calls are refused at once without reaching it; /metrics and the audit trail (with the tenant) show
 * it, /readyz does not (it follows the gateway's own requests: test/faults-breaker-tenants.test.ts);
 * after the cooldown one probe goes through and its success closes the circuit.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { TestClock } from './support/clock.ts';
import { initializeRequest, postLegacy } from './support/rpc.ts';

let t: TestGateway;
let up: HostileInput;
/** Answers as JSON, never as an event stream. */
const JSON_ONLY = { accept: 'application/json' };
let sid = '';
const clock = new TestClock();

before(async () => {
  up = await hostileInputHttp();
  t = await startGateway(
    `  - name: h\n    transport: http\n    url: ${JSON.stringify(up.url)}\n    circuit: { failures: 2, cooldownMs: 60000 }\n`,
    { top: 'inventory: { newTools: accept }\n', clock },
  );
  const r = await postLegacy(t.url, initializeRequest('breaker'), { headers: JSON_ONLY });
  sid = r.headers.get('mcp-session-id')!;
});
after(async () => {
  await t?.close();
  await up?.close();
});

async function call(name: string): Promise<string> {
  const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: {} } };
  return (await postLegacy(t.url, call, { sid, headers: JSON_ONLY })).text();
}

test('failures open the circuit; then calls are refused at once and never reach the upstream', async () => {
  assert.match(await call('h__ok'), /fine: ok/);
  for (let i = 0; i < 2; i++) assert.match(await call('h__bad_utf8'), /not valid utf-8/);
  const before = up.calls.length;
  const refused = await call('h__ok');
  assert.match(refused, /circuit open/);
  assert.equal(up.calls.length, before, 'nothing reached the upstream');

  const ready = await fetch(`${t.url}/readyz`);
  assert.equal(ready.status, 200, "a tenant's circuit does not take the replica out of rotation");
  assert.equal(((await ready.json()) as { upstreams: Record<string, string> }).upstreams.h, 'ready');
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /gatehouse_upstream_circuit_state\{server="h"\} 0/);
  assert.match(metrics, /gatehouse_upstream_circuit_changes_total\{server="h",to="open"\} 1/);
  await t.gw.audit.log.drain();
  const rows = await t.gw.store.audit.read({ kind: 'upstream.circuit' });
  assert.equal(rows.length, 1);
  assert.equal(rows[0].event.server, 'h');
  assert.equal(rows[0].event.detail?.tenant, 'default');
  assert.equal(rows[0].event.detail?.to, 'open');
  assert.match(String(rows[0].event.detail?.reason), /2 consecutive failures/);
});

test('after the cooldown one probe goes through; its success closes the circuit', async () => {
  // The cool-down (60 s) passes on the gateway's clock, not in real time: still open until then.
  clock.advance(59_000);
  const before = up.calls.length;
  assert.match(await call('h__ok'), /circuit open, next try in 1 s/);
  assert.equal(up.calls.length, before);
  clock.advance(1_000);
  assert.match(await call('h__ok'), /fine: ok/);
  assert.match(await call('h__ok'), /fine: ok/);
  await t.gw.audit.log.drain();
  const rows = await t.gw.store.audit.read({ kind: 'upstream.circuit' });
  assert.deepEqual(
    rows.map((r) => [r.event.detail?.tenant, r.event.detail?.to]),
    [
      ['default', 'open'],
      ['default', 'half-open'],
      ['default', 'closed'],
    ],
  );
  assert.match(
    await (await fetch(`${t.url}/metrics`)).text(),
    /gatehouse_upstream_circuit_changes_total\{server="h",to="closed"\} 1/,
  );
});

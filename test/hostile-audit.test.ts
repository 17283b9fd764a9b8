/**
 * What a hostile call costs the audit trail, against a running gateway and a real upstream: a call
 * whose arguments break the global bounds is refused at validate, and its `call.refused` record
 * keeps a bounded account of them (the hash and size, not the values). Before, the redactor wrote
 * one 31-character marker for each of the two million zeros past its node limit: a 4 MB request
 * became a 68 MB audit row and stalled the event loop for over a second.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGatewayFor, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { withLoopDelay } from './support/loop-delay.ts';
import { modernHeaders, replyOf } from './support/rpc.ts';

let t: TestGateway;
let up: HostileInput;

before(async () => {
  up = await hostileInputHttp();
  // audit.arguments is left at its default (redacted): the mode the finding was made in.
  t = await startGatewayFor(up);
});
after(() => t?.close() ?? up?.close());

/** A 2026-07-28 call of `name` whose arguments are 2,000,000 zeros: 4 MB, under the 4 MiB body limit, 200 times the array bound. */
function hostileCall(id: number, name: string): string {
  const meta = JSON.stringify({
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  });
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"${name}","_meta":${meta},"arguments":{"a":[${'0,'.repeat(1_999_999)}0]}}}`;
}

test('arguments past the global bounds are refused and recorded bounded: a small row, the loop not stalled, nothing upstream', async () => {
  const before = up.calls.length;
  const body = hostileCall(7, 'h__ok');
  const { value: r, maxDelayMs } = await withLoopDelay(async () =>
    replyOf(await fetch(`${t.url}/mcp`, { method: 'POST', headers: modernHeaders('tools/call', 'h__ok'), body })),
  );
  assert.equal(r.error?.code, -32602, JSON.stringify(r));
  assert.match(r.error?.message ?? '', /an array longer than 10000 items/);
  assert.equal(up.calls.length, before, 'nothing reached the upstream');

  const rows = await t.gw.store.audit.read({ kind: 'call.refused', limit: 100 });
  const row = rows.map((x) => x.event).find((e) => e.requestId === '7');
  assert.ok(row, 'the refusal is recorded');
  const size = JSON.stringify(row).length;
  assert.ok(size < 64 * 1024, `the refusal record holds ${size} characters`);
  assert.equal(row.stage, 'validate');
  assert.equal(row.withheld, true);
  assert.match(String(row.args), /outside the global bounds/);
  assert.match(String(row.argsHash), /^sha256:[0-9a-f]{64}$/, 'the hash still matches the record to the call');
  // Generous (this machine may be busy): the 65 MB row blocked the loop for 3 to 8 s here, now a few hundred ms.
  assert.ok(maxDelayMs < 2000, `the gateway's event loop was blocked ${maxDelayMs} ms`);
});

test('the same arguments refused before validate (an unknown tool) are capped too: their shape, not their values', async () => {
  const before = up.calls.length;
  const body = hostileCall(8, 'h__nope');
  const r = await replyOf(
    await fetch(`${t.url}/mcp`, { method: 'POST', headers: modernHeaders('tools/call', 'h__nope'), body }),
  );
  assert.ok(r.error, JSON.stringify(r));
  assert.equal(up.calls.length, before, 'nothing reached the upstream');
  const rows = await t.gw.store.audit.read({ kind: 'call.refused', limit: 100 });
  const row = rows.map((x) => x.event).find((e) => e.requestId === '8');
  assert.ok(row, 'the refusal is recorded');
  assert.equal(row.stage, 'route');
  assert.ok(
    JSON.stringify(row).length < 64 * 1024,
    `the refusal record holds ${JSON.stringify(row).length} characters`,
  );
  assert.deepEqual(row.args, { a: 'array(2000000)' });
  assert.equal(row.withheld, true);
});

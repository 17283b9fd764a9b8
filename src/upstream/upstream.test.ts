/**
 * An upstream connection's circuit breakers: a caller's requests count in its tenant's breaker, the
 * gateway's own requests (catalogue listings) in the connection's. One tenant's calls that fail — on
 * purpose, with a tool that answers garbage — open that tenant's circuit only: another tenant's calls
 * and the gateway's listings still reach the server. Against a real MCP server on loopback.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../observability/logger.ts';
import { Upstream } from './upstream.ts';
import type { CircuitChange } from './breaker.ts';
import { hostileInputHttp, type HostileInput } from '../../test/fixtures/upstreams/hostile-input-http.ts';

let server: HostileInput;
let up: Upstream;
const changes: Array<[CircuitChange, string | undefined]> = [];

before(async () => {
  server = await hostileInputHttp();
  up = new Upstream(
    {
      name: 'h',
      transport: 'http',
      url: server.url,
      circuit: { failures: 2, cooldownMs: 60_000 },
      timeouts: { connectMs: 5000, requestMs: 5000, maxTotalMs: 10_000 },
    } as never,
    { get: async () => undefined, put: async () => {} },
    silentLogger(),
  );
  up.on('circuit', (c, tenant) => changes.push([c, tenant]));
  await up.start();
});
after(async () => {
  await up?.stop();
  await server?.close();
});

const call = (tenant: string, name: string) => up.request('tools/call', { name, arguments: {} }, { tenant });

test("one tenant's failures open its own circuit, not another tenant's nor the gateway's", async () => {
  for (let i = 0; i < 2; i++) await assert.rejects(call('acme', 'bad_utf8'), /not valid utf-8/);
  const reached = server.calls.length;
  await assert.rejects(call('acme', 'ok'), /circuit open/);
  assert.equal(server.calls.length, reached, "acme's refused call never reached the server");

  const r = await call('globex', 'ok');
  assert.match(JSON.stringify(r), /fine: ok/);
  assert.equal(server.calls.length, reached + 1, "globex's call reached the server");
  assert.ok(Array.isArray((await up.request('tools/list', undefined, {})).tools), "the gateway's listing went through");

  assert.equal(up.tenantBreaker('acme').state, 'open');
  assert.equal(up.tenantBreaker('globex').state, 'closed');
  assert.equal(up.breaker.state, 'closed', "the connection's own breaker saw no failure");
  assert.deepEqual(
    changes.map(([c, tenant]) => [tenant, c.to]),
    [['acme', 'open']],
  );
});

test('the breakers kept per tenant are bounded: the least recently used goes first', () => {
  assert.equal(up.tenantBreaker('acme').state, 'open');
  for (let i = 0; i < 62; i++) up.tenantBreaker(`t${i}`);
  up.tenantBreaker('acme'); // used again: now the most recent
  for (let i = 62; i < 124; i++) up.tenantBreaker(`t${i}`);
  assert.equal(up.tenantBreaker('acme').state, 'open', 'kept while among the 64 most recently used');
  for (let i = 124; i < 200; i++) up.tenantBreaker(`t${i}`);
  assert.equal(up.tenantBreaker('acme').state, 'closed', 'a fresh breaker once pushed out');
});

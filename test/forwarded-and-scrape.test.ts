/**
 * Without identity the gateway serves loopback callers only; behind a reverse proxy on the same host
 * every caller would look like loopback. Tried as an outsider would: through a real forwarding proxy
 * on loopback (it appends the client to X-Forwarded-For, as nginx does), and by sending forwarding
 * headers directly. A forwarded request is refused unless `gateway.trustedProxies` names the proxy,
 * and then the caller is the one the proxy names; `gatehouse check` fails item 6.6 for such a setup.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT, runCli, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { join } from 'node:path';

let plain: TestGateway;
let proxied: TestGateway;
let proxy: Server;
let proxyUrl = '';
/** What the proxy says the client is (an outsider, unless a test sets it). */
let clientAddress = '203.0.113.9';

const SERVERS = stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts'));

before(async () => {
  plain = await startGateway(SERVERS);
  proxied = await startGateway(SERVERS, { gateway: '  trustedProxies: [127.0.0.1]\n' });
  // A forwarding proxy in front of `proxied`: it appends the client address to X-Forwarded-For.
  const target = new URL(proxied.url);
  proxy = createServer((req, res) => {
    const xff = [req.headers['x-forwarded-for'], clientAddress].filter(Boolean).join(', ');
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: target.host, 'x-forwarded-for': xff },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
after(async () => {
  proxy?.closeAllConnections();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await plain?.close();
  await proxied?.close();
});

const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
};
const post = (base: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(INIT),
  });

test('without identity, a request that says it was forwarded is refused unless the proxy is trusted', async () => {
  assert.equal((await post(plain.url)).status, 200, 'a loopback caller is served');
  for (const h of [
    { 'x-forwarded-for': '203.0.113.9' },
    { 'x-forwarded-for': '127.0.0.1' },
    { forwarded: 'for=127.0.0.1' },
    { 'x-real-ip': '127.0.0.1' },
    { via: '1.1 nginx' },
  ] as Array<Record<string, string>>) {
    const r = await post(plain.url, h);
    assert.equal(r.status, 401, JSON.stringify(h));
    assert.match(
      ((await r.json()) as { error: { message: string } }).error.message,
      /forwarded request .* gateway\.trustedProxies/,
    );
  }
  const admin = await fetch(`${plain.url}/admin/v1/inventory`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
  assert.equal(admin.status, 401, 'the admin api too');
  // Recorded, aggregated: one kind of failure from one address is one record that counts them.
  plain.gw.authFailures.flush();
  await eventually(async () => {
    const rows = (await plain.gw.store.audit.read({ kind: 'call.refused', limit: 1000 }))
      .map((r) => r.event)
      .filter((e) => e.stage === 'authenticate' && /forwarded request/.test(String(e.detail?.reason)));
    const counted = rows.reduce((n, e) => n + Number(e.detail?.count), 0);
    assert.equal(counted, 6, 'five forwarded MCP requests and one admin request');
    return true;
  });
});

test('behind a trusted proxy the caller is the one the proxy names: an outsider is refused, a spoofed loopback hop changes nothing', async () => {
  clientAddress = '203.0.113.9';
  assert.equal((await post(proxyUrl)).status, 401, 'an outsider through the proxy');
  assert.equal(
    (await post(proxyUrl, { 'x-forwarded-for': '127.0.0.1' })).status,
    401,
    'prepending loopback does not help',
  );
  assert.equal((await fetch(`${proxyUrl}/admin/v1/inventory`)).status, 401);
  clientAddress = '127.0.0.1';
  assert.equal((await post(proxyUrl)).status, 200, 'a caller on the proxy host is loopback');
});

test('gatehouse check fails item 6.6 when a gateway without identity trusts a proxy, and passes it otherwise', async () => {
  const item = async (file: string) => {
    const r = await runCli(['check', '--json', '-c', file]);
    return (JSON.parse(r.stdout) as { items: Array<{ id: string; status: string; why: string }> }).items.find(
      (i) => i.id === '6.6',
    )!;
  };
  const bad = await item(proxied.file);
  assert.equal(bad.status, 'fail');
  assert.match(bad.why, /forwarded by 127\.0\.0\.1/);
  assert.equal((await item(plain.file)).status, 'pass');
});

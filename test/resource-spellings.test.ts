/**
 * Forward what you checked, for resource URIs: a quarantined resource spelt another way (`./`, scheme
 * case, percent-encoded letters, a trailing `.`, look-alike dots) is the quarantined resource, or no
 * resource at all — never a URI nothing lists that the upstream then reads as the quarantined one.
 * Real clients of both eras, on both endpoints, for every method that names a resource; the upstream
 * (test/fixtures/upstreams/tenant-server.ts, two tenants: acme discovers) records what reaches it.
 * Then the same rule for URLs in tool arguments: look-alike dots are refused as they are in paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { modernHeaders, modernMeta, replyOf } from './support/rpc.ts';
import { createKey } from './support/gateway.ts';
import { keys, reached, rpc, sdk, startMediationGateway, t } from './support/mediation.ts';

startMediationGateway();

const QUARANTINED = -32001;
const INVALID = -32602;

/** Other spellings of acme's poisoned `tenant://acme/evil`, which the inventory quarantined. */
const SPELLINGS = [
  'tenant://acme/./evil',
  'tenant://acme/././evil',
  'tenant://acme/./././evil',
  'TENANT://acme/evil',
  'Tenant://acme/evil',
  'tenant://acme/%65vil',
  'tenant://acme/%65%76%69%6c',
  'tenant://%61cme/evil',
  'tenant://acme/evil/.',
  'tenant://acme/\uff0e/evil',
  'tenant://acme/%EF%BC%8E/evil',
  'tenant://acme/\u2024/evil',
  'tenant://acme/\uff0e\uff0e/acme/evil',
];

const RESOURCE_METHODS = ['resources/read', 'resources/subscribe', 'resources/unsubscribe', 'completion/complete'];
/** How many requests naming a resource acme's processes received. */
const upstreamSaw = () =>
  reached().filter((r) => r.tenant === 'acme' && RESOURCE_METHODS.includes(r.msg.method ?? '')).length;

/** The JSON-RPC error of an SDK request that must fail (and must not answer). */
async function refusal(what: string, p: Promise<unknown>): Promise<{ code: number; message: string }> {
  const r = await p.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
  assert.ok('err' in r, `${what} was answered: ${JSON.stringify(r).slice(0, 300)}`);
  assert.ok(r.err instanceof McpError, `${what}: ${String(r.err)}`);
  return { code: r.err.code, message: r.err.message };
}

function refused(what: string, e: { code: number; message: string } | undefined): void {
  assert.ok(e, `${what} was answered`);
  assert.ok(e.code === QUARANTINED || e.code === INVALID, `${what}: ${e.code} ${e.message}`);
  if (e.code === QUARANTINED) assert.match(e.message, /quarantined/, what);
  else assert.match(e.message, /segment|look-alike/, what);
}

/** Every method naming `uri` through a 2025-11-25 SDK client. */
async function legacy(c: Client, uri: string, where: string): Promise<void> {
  refused(`read ${where} ${uri}`, await refusal(uri, c.readResource({ uri })));
  refused(`subscribe ${where} ${uri}`, await refusal(uri, c.subscribeResource({ uri })));
  refused(`unsubscribe ${where} ${uri}`, await refusal(uri, c.unsubscribeResource({ uri })));
  const complete = c.complete({ ref: { type: 'ref/resource', uri }, argument: { name: 'x', value: 'a' } });
  refused(`complete ${where} ${uri}`, await refusal(uri, complete));
}

/** A header value as the 2026-07-28 Mcp-Name carries it (non-ASCII in the base64 sentinel form). */
const headerValue = (v: string) =>
  /^[\x20-\x7e]*$/.test(v) ? v : `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;

/** resources/read and completion/complete of `uri` as a 2026-07-28 client of key `key`, on `base`. */
async function modern(base: string, uri: string, key: string): Promise<void> {
  const ask = async (method: string, params: Record<string, unknown>, name?: string) => {
    const r = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { ...modernHeaders(method, name), authorization: `Bearer ${key}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: modernMeta() } }),
    });
    return (await replyOf(r)).error;
  };
  refused(`modern read ${base} ${uri}`, await ask('resources/read', { uri }, headerValue(uri)));
  const ref = { type: 'ref/resource', uri };
  refused(
    `modern complete ${base} ${uri}`,
    await ask('completion/complete', { ref, argument: { name: 'x', value: 'a' } }),
  );
}

test('a quarantined resource spelt any other way is refused, on both endpoints and both eras, for every method naming it; nothing reaches the upstream', async () => {
  const before = upstreamSaw();
  // The exact URI is quarantined (the poisoning scan): the baseline every spelling must keep.
  const c = await sdk('acme');
  const exact = await refusal('exact', c.readResource({ uri: 'gatehouse:mt/tenant://acme/evil' }));
  assert.equal(exact.code, QUARANTINED, exact.message);
  await c.close();
  // Twelve refusals a spelling: a key of acme's for every five, within each key's refusal budget.
  for (let i = 0; i < SPELLINGS.length; i += 5) {
    const name = `acme-spellings-${i}`;
    keys[name] = await createKey(t.file, { name, tenant: 'acme', scopes: 'mcp:read' });
    const aggregate = await sdk(name);
    const perServer = await sdk(name, {}, '/servers/mt/mcp');
    for (const spelling of SPELLINGS.slice(i, i + 5)) {
      await legacy(aggregate, `gatehouse:mt/${spelling}`, '/mcp');
      await legacy(perServer, spelling, '/servers/mt/mcp');
      await modern(t.url, `gatehouse:mt/${spelling}`, keys[name]);
      await modern(`${t.url}/servers/mt`, spelling, keys[name]);
    }
    await aggregate.close();
    await perServer.close();
  }
  assert.equal(upstreamSaw(), before, 'a request naming the quarantined resource reached the upstream');
  // What the audit records is the form that was checked: the canonical URI, refused as quarantined.
  const refusals = (await t.gw.store.audit.read({ kind: 'call.refused', tenant: 'acme', limit: 1000 })).map(
    (r) => r.event,
  );
  const quarantined = refusals.filter((e) => e.method === 'resources/read' && e.error === 'E_TOOL_QUARANTINED');
  assert.ok(quarantined.length > 2, JSON.stringify(refusals.slice(-3)));
  assert.ok(
    quarantined.every((e) => e.tool === 'gatehouse:mt/tenant://acme/evil'),
    JSON.stringify(quarantined.map((e) => e.tool)),
  );
});

test('a readable resource spelt another way is read as its canonical URI: exactly that goes upstream', async () => {
  const c = await sdk('acme');
  const from = reached().length;
  const r = await c.readResource({ uri: 'gatehouse:mt/TENANT://acme/%6Eotes' });
  assert.equal((r.contents[0] as { text: string }).text, 'acme notes');
  const sent = reached()
    .slice(from)
    .filter((x) => x.msg.method === 'resources/read')
    .map((x) => x.msg.params?.uri);
  assert.deepEqual(sent, ['tenant://acme/notes']);
  await c.close();
});

test('look-alike dots in a URL argument are refused naming where, as in a path; nothing reaches the upstream', async () => {
  const calls = () => reached().filter((r) => r.msg.method === 'tools/call').length;
  const before = calls();
  for (const url of [
    'https://docs.allowed.test/x/\uff0e\uff0e/y',
    'https://docs.allowed.test/\u2025/x',
    'https://docs.allowed.test/x/%EF%BC%8E%EF%BC%8E/y',
    'https://docs.allowed.test/x/\uff0e/y',
  ]) {
    const r = await rpc('acme', 'tools/call', { name: 'mt__fetch', arguments: { url } });
    assert.equal(r.error?.code, QUARANTINED, `${url}: ${JSON.stringify(r).slice(0, 300)}`);
    assert.match(r.error.message, /resource:refused.*(`\.\.` segment|look-alikes).*\(at `url`\)/, url);
  }
  assert.equal(calls(), before, 'a url with look-alike dots reached the upstream');
  // The same URL with plain dots is resolved, and forwarded resolved (as before).
  const ok = await rpc('acme', 'tools/call', {
    name: 'mt__fetch',
    arguments: { url: 'https://docs.allowed.test/x/../y' },
  });
  assert.equal(ok.result?.content?.[0]?.text, 'fetched https://docs.allowed.test/y', JSON.stringify(ok));
});

test("another tenant's own poisoned resource, hidden from its listing, is refused to it by any spelling; its process reads none", async () => {
  // globex is not the discovery tenant: its listing, and what its scan flags, are its own connection's.
  const reads = () =>
    reached().filter((r) => r.tenant === 'globex' && RESOURCE_METHODS.includes(r.msg.method ?? '')).length;
  keys['globex-spellings'] = await createKey(t.file, {
    name: 'globex-spellings',
    tenant: 'globex',
    scopes: 'mcp:read',
  });
  const c = await sdk('globex-spellings');
  const listed = (await c.listResources()).resources.map((r) => r.uri);
  assert.ok(listed.includes('gatehouse:mt/tenant://globex/notes'), listed.join(' '));
  assert.ok(!listed.some((u) => u.includes('evil')), listed.join(' '));
  const before = reads();
  for (const uri of ['tenant://globex/evil', 'TENANT://globex/evil', 'tenant://globex/%65vil']) {
    for (const [what, p] of [
      ['read', c.readResource({ uri: `gatehouse:mt/${uri}` })],
      ['subscribe', c.subscribeResource({ uri: `gatehouse:mt/${uri}` })],
      [
        'complete',
        c.complete({ ref: { type: 'ref/resource', uri: `gatehouse:mt/${uri}` }, argument: { name: 'x', value: 'a' } }),
      ],
    ] as const) {
      const e = await refusal(`${what} ${uri}`, p);
      assert.equal(e.code, QUARANTINED, `${what} ${uri}: ${e.message}`);
    }
  }
  assert.equal(reads(), before, "globex's process was asked for its poisoned resource");
  // Its notes stay readable.
  const notes = await c.readResource({ uri: 'gatehouse:mt/tenant://globex/notes' });
  assert.equal((notes.contents[0] as { text: string }).text, 'globex notes');
  await c.close();
});

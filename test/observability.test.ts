/**
 * What operators watch: /healthz, /readyz, /metrics after real calls, and list_changed fan-out from
 * an upstream to legacy sessions (GET stream) and modern `subscriptions/listen` streams.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';
import { getStreamWatch, modernMeta, postModern } from './support/rpc.ts';

let t: TestGateway;
before(async () => {
  const rec = join(mkdtempSync(join(tmpdir(), 'gatehouse-obs-')), 'rec.jsonl');
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n`,
    {
      top: 'inventory: { newTools: accept }  # these tests add tools at run time\n',
    },
  );
});
after(async () => t?.close());

test('healthz and readyz', async () => {
  assert.deepEqual(await (await fetch(`${t.url}/healthz`)).json(), { status: 'ok' });
  const r = await fetch(`${t.url}/readyz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ready', store: 'ok', audit: 'ok', upstreams: { rec: 'ready' } });
});

test('metrics count calls by server, tool and outcome, with latency', async () => {
  const c = new Client({ name: 'm', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  await c.callTool({ name: 'rec__record', arguments: { note: 'a' } });
  await c.callTool({ name: 'rec__nope', arguments: {} }).catch(() => undefined);
  await c.close();
  const text = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(text, /gatehouse_tool_calls_total\{server="rec",tool="record",outcome="ok"\} 1/);
  assert.match(text, /gatehouse_tool_calls_total\{server="",tool="",outcome="E_UNKNOWN_TOOL"\} 1/);
  assert.match(text, /gatehouse_tool_call_duration_seconds_count\{server="rec",outcome="ok"\} 1/);
  assert.match(text, /gatehouse_upstream_up\{server="rec"\} 1/);
  assert.doesNotMatch(text, /rec__nope/, 'caller input never becomes a label');
});

test('an upstream list_changed reaches legacy sessions and modern listeners that opted in', async () => {
  const legacy = new Client({ name: 'l', version: '1' });
  let legacyHeard = 0;
  legacy.setNotificationHandler(ToolListChangedNotificationSchema, async () => void legacyHeard++);
  // The client opens its GET stream after initialize: list_changed can reach it once the gateway answered that GET.
  const watch = getStreamWatch();
  await legacy.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { fetch: watch.fetch }));
  await watch.opened;

  const ac = new AbortController();
  const params = { notifications: { toolsListChanged: true }, _meta: modernMeta() };
  const listen = await postModern(t.url, 'subscriptions/listen', params, { id: 'L1', signal: ac.signal });
  const reader = listen.body!.getReader();
  let streamed = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      streamed += new TextDecoder().decode(value);
    }
  })();

  await legacy.callTool({ name: 'rec__add_tool', arguments: { name: 'fresh' } });
  await eventually(
    () => {
      assert.ok(legacyHeard > 0, 'the legacy session heard list_changed');
      assert.match(streamed, /list_changed/, 'the listener heard list_changed');
      return true;
    },
    { timeoutMs: 5000 },
  );
  assert.match(streamed, /notifications\/subscriptions\/acknowledged.*"toolsListChanged":true/s);
  assert.match(streamed, /notifications\/tools\/list_changed.*"io\.modelcontextprotocol\/subscriptionId":"L1"/s);
  const { tools } = await legacy.listTools();
  assert.ok(tools.some((x) => x.name === 'rec__fresh'));
  ac.abort();
  await pump;
  await legacy.close();
});

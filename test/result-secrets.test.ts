/**
 * `secrets.results: redact` end to end, for legacy (2025-11-25) and modern (2026-07-28) callers: a
 * well-known secret (a GitHub token, an AWS key) that an upstream found somewhere was redacted from
 * results only. The same tokens in the upstream's JSON-RPC error (message and data), and in a log or
 * a progress message it sent during the call, reached the caller verbatim. Each arrives redacted now.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGatewayFor, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, LEAKED, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { modernHeaders, type Reply } from './support/rpc.ts';

let t: TestGateway;
let up: HostileInput;
const LEGACY = '2025-11-25';
const SSE = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

before(async () => {
  up = await hostileInputHttp();
  t = await startGatewayFor(up, 'secrets: { results: redact }\n');
});
after(() => t?.close() ?? up?.close());

/** Every JSON-RPC message of a response: one JSON body, or each `data:` of an SSE stream. */
async function messagesOf(r: Response): Promise<Reply[]> {
  const text = await r.text();
  if (!(r.headers.get('content-type') ?? '').startsWith('text/event-stream')) return [JSON.parse(text) as Reply];
  return text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.slice(5).trim())
    .map((l) => JSON.parse(l.slice(5)) as Reply);
}

async function legacySession(): Promise<Record<string, string>> {
  const init = await fetch(`${t.url}/mcp`, {
    method: 'POST',
    headers: SSE,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'legacy', version: '1' } },
    }),
  });
  await init.arrayBuffer();
  const s = { 'mcp-session-id': init.headers.get('mcp-session-id') ?? '', 'mcp-protocol-version': LEGACY };
  const body = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
  await (await fetch(`${t.url}/mcp`, { method: 'POST', headers: { ...SSE, ...s }, body })).arrayBuffer();
  return s;
}

/** Call `h__<tool>` as a caller of `era`, asking for progress (and, modern, for log messages). */
async function call(era: 'legacy' | 'modern', tool: string): Promise<Reply[]> {
  const name = `h__${tool}`;
  const meta: Record<string, unknown> = { progressToken: `p-${era}` };
  let headers: Record<string, string>;
  if (era === 'modern') {
    meta['io.modelcontextprotocol/protocolVersion'] = '2026-07-28';
    meta['io.modelcontextprotocol/clientCapabilities'] = {};
    meta['io.modelcontextprotocol/logLevel'] = 'debug';
    headers = modernHeaders('tools/call', name);
  } else headers = { ...SSE, ...(await legacySession()) };
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 9,
    method: 'tools/call',
    params: { name, arguments: {}, _meta: meta },
  });
  return messagesOf(await fetch(`${t.url}/mcp`, { method: 'POST', headers, body }));
}

const leaks = (v: unknown) => {
  const text = JSON.stringify(v);
  return [LEAKED.github, LEAKED.aws, LEAKED.github.slice(4, 24)].filter((x) => text.includes(x));
};

for (const era of ['legacy', 'modern'] as const) {
  test(`${era} caller: the upstream's error message and data arrive with well-known secrets redacted`, async () => {
    const [r] = await call(era, 'leak_error');
    assert.ok(r.error, JSON.stringify(r));
    assert.deepEqual(leaks(r.error), [], JSON.stringify(r.error));
    assert.match(r.error.message, /failed: token \[REDACTED:github-token\] and key \[REDACTED:aws-access-key\]/);
    assert.match(JSON.stringify(r.error.data), /REDACTED:aws-access-key/);
  });

  test(`${era} caller: log and progress messages sent during the call arrive with well-known secrets redacted`, async () => {
    const all = await call(era, 'leak_notes');
    const log = all.find((m) => m.method === 'notifications/message');
    const progress = all.find((m) => m.method === 'notifications/progress');
    assert.ok(log && progress, `both relayed: ${JSON.stringify(all)}`);
    assert.deepEqual(leaks(all), [], JSON.stringify(all));
    assert.match(
      JSON.stringify(log.params?.data),
      /token \[REDACTED:github-token\] and key \[REDACTED:aws-access-key\]/,
    );
    assert.equal(log.params?.level, 'error');
    assert.equal(progress.params?.progressToken, `p-${era}`, "the caller's own token, untouched");
    assert.match(String(progress.params?.message), /working: token \[REDACTED:github-token\]/);
    assert.equal(all.at(-1)?.result?.content[0].text, 'noted');
  });
}

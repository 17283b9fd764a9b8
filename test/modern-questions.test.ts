/**
 * The questions a 2026-07-28 upstream asks in an `input_required` result meet the rule a question asked
 * by request meets (src/protocol/upstream-methods.ts; forward.ts answerHere), for a modern caller as for
 * a legacy one: roots/list of a server configured `roots: false`, a question whose capability the
 * caller did not declare, and ping (the gateway's own) are never put to the caller, and nothing of the
 * caller reaches the upstream for them. A hostile upstream (test/fixtures/upstreams/modern-server.ts
 * `asks`, recording every request it gets) asks them; the same server without `roots: false` shows the
 * caller is still asked what it may be.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { startPrintingUrl, type Proc } from './support/processes.ts';
import { postModernCall, replyOf } from './support/rpc.ts';

const TMP = mkdtempSync(join(tmpdir(), 'gh-mq-'));
const RECORD = join(TMP, 'asks.jsonl');
/** What the 2025-11-25 server (test/fixtures/upstreams/tenant-server.ts) received. */
const LEGACY_RECORD = join(TMP, 'legacy.jsonl');
const SECRET_ROOT = 'file:///home/alice/secret-project';
let t: TestGateway;
let up: Proc;

before(async () => {
  writeFileSync(RECORD, '');
  writeFileSync(LEGACY_RECORD, '');
  process.env.RECORD_FILE = RECORD;
  up = await startPrintingUrl(join(ROOT, 'test/fixtures/upstreams/modern-server.ts'));
  delete process.env.RECORD_FILE;
  const url = JSON.stringify(up.url);
  t = await startGateway(
    `  - { name: closed, transport: http, url: ${url}, roots: false }\n` +
      `  - { name: open, transport: http, url: ${url} }\n` +
      `${stdioServer('old', join(ROOT, 'test/fixtures/upstreams/tenant-server.ts'))}    roots: false\n` +
      `    env: { RECORD_FILE: ${JSON.stringify(LEGACY_RECORD)}, TENANT_TOKEN: "canary-acme-mq" }\n`,
    { top: 'inventory: { newTools: accept }\n' },
  );
});
after(async () => {
  await t?.close();
  await up?.stop();
  rmSync(TMP, { recursive: true, force: true });
});

/** What the upstream got since `from` (a line count of its record). */
const recorded = (from: number): Array<{ params: Record<string, unknown> }> =>
  readFileSync(RECORD, 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(from)
    .map((l) => JSON.parse(l));
const mark = () => recorded(0).length;

const ROOTS = { r: { method: 'roots/list', params: {} } };
const SAMPLING = { s: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } } };
const FORM = { mode: 'form', message: 'password?', requestedSchema: { type: 'object', properties: {} } };
const ELICIT = { e: { method: 'elicitation/create', params: FORM } };
const PING = { p: { method: 'ping', params: {} } };

test('roots/list on a `roots: false` server: the modern caller is not asked, its roots never reach the upstream', async () => {
  const from = mark();
  const first = await replyOf(
    await postModernCall(t.url, 'closed__asks', { questions: ROOTS }, { capabilities: { roots: {} } }),
  );
  assert.equal(first.result, undefined, JSON.stringify(first));
  assert.equal(first.error.code, -32603);
  assert.match(first.error.message, /the client could not answer `roots\/list`/);
  // The upstream got the call once: no retry carried an answer of the caller.
  assert.equal(recorded(from).length, 1);
  assert.equal(recorded(from)[0].params.inputResponses, undefined);
  assert.doesNotMatch(readFileSync(RECORD, 'utf8'), /secret-project/);
  // The same upstream without `roots: false`: the caller is asked, and its answer goes back.
  const open = await replyOf(
    await postModernCall(t.url, 'open__asks', { questions: ROOTS }, { capabilities: { roots: {} } }),
  );
  assert.deepEqual(open.result.inputRequests, ROOTS);
});

test('roots/list on a `roots: false` server: a legacy caller is not asked either', async () => {
  const c = new Client({ name: 'legacy', version: '1' }, { capabilities: { roots: {} } });
  let asked = 0;
  c.fallbackRequestHandler = async () => {
    asked++;
    return { roots: [{ uri: SECRET_ROOT }] };
  };
  await c.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
  try {
    await assert.rejects(
      c.callTool({ name: 'closed__asks', arguments: { questions: ROOTS } }),
      /could not answer `roots\/list`/,
    );
    assert.equal(asked, 0);
  } finally {
    await c.close();
  }
  assert.doesNotMatch(readFileSync(RECORD, 'utf8'), /secret-project/);
});

test('sampling or elicitation asked of a modern caller that did not declare it: -32021 naming it, nothing relayed', async () => {
  for (const [questions, cap] of [
    [SAMPLING, 'sampling'],
    [ELICIT, 'elicitation'],
  ] as const) {
    const from = mark();
    const r = await replyOf(await postModernCall(t.url, 'open__asks', { questions }, { capabilities: {} }));
    assert.equal(r.result, undefined, JSON.stringify(r));
    assert.equal(r.error.code, -32021);
    assert.deepEqual(r.error.data.requiredCapabilities, { [cap]: {} });
    assert.doesNotMatch(JSON.stringify(r), /password|createMessage/);
    assert.equal(recorded(from).length, 1);
  }
  // A roots/list to a caller without roots ends the call as on a `roots: false` server.
  const r = await replyOf(
    await postModernCall(t.url, 'open__asks', { questions: ROOTS }, { capabilities: { sampling: {} } }),
  );
  assert.match(r.error.message, /the client could not answer `roots\/list`/);
});

test('ping in input_required is answered by the gateway, never put to the caller', async () => {
  const from = mark();
  const r = await replyOf(
    await postModernCall(t.url, 'open__asks', { questions: PING }, { capabilities: { elicitation: { form: {} } } }),
  );
  // The gateway answered `p` upstream itself (an empty result) in a retry carrying the upstream's state.
  assert.deepEqual(r.result?.content, [{ type: 'text', text: '{"p":{}}' }], JSON.stringify(r));
  const got = recorded(from);
  assert.equal(got.length, 2);
  assert.deepEqual(got[1].params.inputResponses, { p: {} });
  assert.equal(got[1].params.requestState, 'asked-once');
  // Beside a question for the caller: the caller sees its own question only.
  const mixed = await replyOf(
    await postModernCall(
      t.url,
      'open__asks',
      { questions: { ...PING, ...ELICIT } },
      { capabilities: { elicitation: { form: {} } } },
    ),
  );
  assert.deepEqual(Object.keys(mixed.result.inputRequests), ['e']);
});

test('roots/list asked by request by a 2025-11-25 server configured `roots: false`: a modern caller is not asked, the server is refused', async () => {
  // tenant-server.ts `roots` asks roots/list during the call whatever it was told (the SDK does not check).
  const r = await replyOf(await postModernCall(t.url, 'old__roots', {}, { capabilities: { roots: {} } }));
  assert.deepEqual(r.result?.content, [{ type: 'text', text: '[]' }], JSON.stringify(r));
  const answers = readFileSync(LEGACY_RECORD, 'utf8')
    .split('\n')
    .filter((l) => l.includes('does not support `roots/list`'));
  assert.equal(answers.length, 1, 'the server was answered -32601 by the gateway');
});

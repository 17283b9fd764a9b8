/**
 * Lone UTF-16 surrogates (JSON's `\ud800` without its other half: parsers take it, RFC 8785 cannot
 * encode it), from a caller and from an upstream, against a running gateway. Before (walk X): a
 * tools/call holding one got -32603 from the audit's argument hash, wrote no record, spent no refusal
 * budget, logged a stack trace, and kept its concurrency slot: one request of acme's held a
 * `scope: tool` cap for every tenant until restart. An upstream listing one tool with a lone
 * surrogate failed its catalogue refresh for good (every tool of that server gone, /readyz 503).
 * Now the call is refused at validate (-32602 naming where), recorded and counted, with nothing
 * reaching the upstream and the slot free; the tool is held for review, and the rest serve.
 */
import { after, before, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { hostileInputHttp, type HostileInput } from './fixtures/upstreams/hostile-input-http.ts';
import { capturedLog } from './support/logs.ts';
import { dropRedisKeys, requireService } from './support/services.ts';
import { modernHeaders, modernMeta, openLegacySession, postLegacy, postModernCall, type Reply } from './support/rpc.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-surrogates-'));
const record = join(tmp, 'rec.jsonl');
let t: TestGateway;
let hx: HostileInput;
const keys: Record<string, string> = {};
const logs = capturedLog('info');

/** Listed by the hostile upstream as the walk's did: lone surrogates in the description, a parameter name and its text. */
const SURR_TOOL = JSON.parse(
  '{"name":"surrdesc","description":"lone \\ud800 surrogate","inputSchema":{"type":"object","properties":{"k\\udc00":{"type":"string","description":"x\\ud800"}}}}',
);

before(async () => {
  writeFileSync(record, '');
  hx = await hostileInputHttp([
    { name: 'ok', description: 'answers', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } },
    SURR_TOOL,
  ]);
  t = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(record)} }\n    tools: { record: { class: READ } }\n` +
      `  - { name: hx, transport: http, url: ${JSON.stringify(hx.url)} }\n`,
    {
      log: logs.log,
      top:
        'identity: { apiKeys: true }\n' +
        "limits:\n  rules:\n    - { id: record-cap, scope: tool, tools: ['rec__record'], concurrency: 1 }\n" +
        '  refusals: { points: 6, perSeconds: 3600 }\n',
    },
  );
  for (const tenant of ['acme', 'globex', 'initech'])
    keys[tenant] = await createKey(t.file, { name: `${tenant}-bot`, tenant, scopes: 'x' });
});
after(async () => {
  await t?.close();
  await hx?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** What the recording upstream received: the tools/call lines. */
const received = () =>
  readFileSync(record, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"'));

/** A JSON-RPC answer, sent as JSON or as an SSE stream. */
async function answer(r: Response): Promise<Reply> {
  const text = await r.text();
  if (!(r.headers.get('content-type') ?? '').includes('text/event-stream')) return JSON.parse(text) as Reply;
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => JSON.parse(l.slice(5)) as Reply);
  return data.find((m) => m.id !== undefined) as Reply;
}

const recordsOf = async (requestId: string) =>
  (await t.gw.store.audit.read({ limit: 1000 })).map((x) => x.event).filter((e) => e.requestId === requestId);

test("a lone surrogate in a call's arguments, every era and endpoint: -32602 naming where, recorded, nothing upstream, the capped tool still runs for another tenant", async () => {
  const lone = 'a\ud800b';
  const sid = await openLegacySession(t.url, 'acme-agent', { token: keys.acme, initialized: true });
  const ssid = await openLegacySession(t.url, 'acme-agent', {
    token: keys.acme,
    initialized: true,
    path: '/servers/rec/mcp',
  });
  const legacyCall = (id: string, name: string, args: unknown, opts: { sid: string; path?: string }) =>
    postLegacy(
      t.url,
      { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
      { token: keys.acme, ...opts },
    );
  const cases: Array<[string, () => Promise<Response>, string]> = [
    [
      'm1',
      () => postModernCall(t.url, 'rec__record', { note: lone }, { token: keys.acme, id: 'm1' }),
      'arguments.note',
    ],
    [
      'm2',
      () =>
        fetch(`${t.url}/servers/rec/mcp`, {
          method: 'POST',
          headers: { ...modernHeaders('tools/call', 'record'), authorization: `Bearer ${keys.acme}` },
          // Written by hand: the escape in a key, and a low half before a high one (no pair either).
          body: `{"jsonrpc":"2.0","id":"m2","method":"tools/call","params":{"name":"record","_meta":${JSON.stringify(modernMeta())},"arguments":{"x":"ok","k\\udc00\\ud800":"v"}}}`,
        }),
      'arguments["k\\udc00\\ud800"]',
    ],
    ['l1', () => legacyCall('l1', 'rec__record', { note: lone }, { sid }), 'arguments.note'],
    [
      'l2',
      () => legacyCall('l2', 'record', { note: ['\udfff'] }, { sid: ssid, path: '/servers/rec/mcp' }),
      'arguments.note[0]',
    ],
    // A client that takes only streams (a refusal before anything is sent upstream still comes as one answer).
    [
      's1',
      () =>
        postModernCall(
          t.url,
          'rec__record',
          { note: lone },
          { token: keys.acme, id: 's1', headers: { accept: 'text/event-stream' } },
        ),
      'arguments.note',
    ],
  ];
  for (const [id, send, path] of cases) {
    const res = await send();
    const r = await answer(res);
    assert.equal(r.error?.code, -32602, `${id}: ${JSON.stringify(r)}`);
    assert.equal(
      r.error.message,
      `invalid params: \`${path}\` holds a lone UTF-16 surrogate (half of a pair): not Unicode text`,
    );
    assert.deepEqual(r.error.data, { path });
    // The trail keeps the hostile call: a refusal at validate, its arguments with U+FFFD in place.
    const rows = await recordsOf(id);
    assert.deepEqual(
      rows.map((e) => [e.kind, e.stage, e.error, e.actor?.tenant]),
      [['call.refused', 'validate', 'E_INVALID_PARAMS', 'acme']],
      id,
    );
    assert.equal(rows[0].detail?.replacedUnpairedSurrogates, true);
    assert.match(String(rows[0].argsHash), /^sha256:[0-9a-f]{64}$/);
    assert.ok(JSON.stringify(rows[0].args).includes('\ufffd'), JSON.stringify(rows[0].args));
  }
  assert.deepEqual(received(), [], 'nothing reached the upstream');
  // The cap of one for the whole tool is free: another tenant's call runs (before the fix: rate limited).
  const b = await answer(await postModernCall(t.url, 'rec__record', { note: 'after' }, { token: keys.globex }));
  assert.deepEqual(b.result?.content, [{ type: 'text', text: '{"note":"after"}' }], JSON.stringify(b));
  assert.equal(received().length, 1);
  assert.ok(!received()[0].includes('\\ud8'), 'what went upstream is the clean call');
  // Nothing was an internal error: no stack trace in the log.
  assert.deepEqual(
    logs.lines.filter((l) => l.msg === 'internal error' || JSON.stringify(l).includes('    at ')),
    [],
  );
});

test('a lone surrogate refused before validate (an unknown tool) is recorded too, and hostile calls spend the refusal budget', async () => {
  const probe = (i: number) =>
    postModernCall(t.url, `rec__nosuch${i}`, { x: '\ud800' }, { token: keys.initech, id: `p${i}` }).then(answer);
  for (let i = 0; i < 3; i++) {
    const r = await probe(i);
    assert.ok(r.error && r.error.code !== -32603, JSON.stringify(r));
    const rows = await recordsOf(`p${i}`);
    assert.deepEqual(
      rows.map((e) => [e.kind, e.stage]),
      [['call.refused', 'route']],
    );
    assert.equal(rows[0].detail?.replacedUnpairedSurrogates, true);
  }
  for (let i = 3; i < 7; i++) {
    const r = await answer(
      await postModernCall(t.url, 'rec__record', { note: '\udc00' }, { token: keys.initech, id: `p${i}` }),
    );
    assert.equal(r.error?.code, -32602);
  }
  // Refusals past the budget of six: from then on every request, even a clean one, is refused before anything is looked up.
  const blocked = await answer(await postModernCall(t.url, 'rec__record', { note: 'clean' }, { token: keys.initech }));
  assert.match(blocked.error?.message ?? '', /rate limited \(refusals\)/, JSON.stringify(blocked));
  assert.ok(!received().some((l) => l.includes('clean')));
  // Another tenant is not held back.
  const other = await answer(await postModernCall(t.url, 'rec__record', { note: 'globex' }, { token: keys.globex }));
  assert.ok(other.result, JSON.stringify(other));
});

test('an upstream listing a tool with lone surrogates: that tool is held for review, its other tools serve, the replica is ready', async () => {
  const ready = await fetch(`${t.url}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  const list = await answer(
    await fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { ...modernHeaders('tools/list'), authorization: `Bearer ${keys.acme}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'tl', method: 'tools/list', params: { _meta: modernMeta() } }),
    }),
  );
  const names = ((list.result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name);
  assert.ok(names.includes('hx__ok'), names.join(','));
  assert.ok(!names.includes('hx__surrdesc'), 'the hostile tool is not shown');
  const ok = await answer(await postModernCall(t.url, 'hx__ok', { q: 'x' }, { token: keys.acme }));
  assert.ok(ok.result, JSON.stringify(ok));
  assert.deepEqual(hx.calls, ['ok']);
  const held = await answer(await postModernCall(t.url, 'hx__surrdesc', {}, { token: keys.acme }));
  assert.ok(held.error, JSON.stringify(held));
  assert.deepEqual(hx.calls, ['ok'], 'the held tool is not called');
  // The operator is told why: the inventory's reason names where, and the definition is kept with U+FFFD.
  const tools = await t.gw.store.inventory.tools('hx');
  const surr = tools.find((x) => x.tool === 'surrdesc');
  assert.ok(surr, tools.map((x) => x.tool).join(','));
  assert.equal(surr.acceptedPin, null);
  assert.match(JSON.stringify(surr.findings), /unpaired-surrogate/);
  assert.equal((surr.def as { description: string }).description, 'lone \ufffd surrogate');
  assert.ok(!logs.lines.some((l) => /surrogate is not allowed/i.test(JSON.stringify(l))));
});

test('redis: the cap shared by replicas is not held by a hostile call either (the walk: the holding replica kept renewing it)', async (t) => {
  if (!(await requireService(t, 'redis'))) return;
  const keyPrefix = `gatehouse-test:surrogates:${randomUUID()}:`;
  t.after(() => dropRedisKeys(keyPrefix));
  const rec = join(tmp, 'rec-redis.jsonl');
  writeFileSync(rec, '');
  const g = await startGateway(
    stdioServer('rec', join(ROOT, 'test/fixtures/upstreams/recording-server.ts')) +
      `    env: { RECORD_FILE: ${JSON.stringify(rec)} }\n    tools: { record: { class: READ } }\n`,
    {
      top:
        'identity: { apiKeys: true }\n' +
        `limits:\n  redis: { url: "redis://127.0.0.1:6379", keyPrefix: "${keyPrefix}", leaseTtlMs: 1000 }\n` +
        "  rules:\n    - { id: record-cap, scope: tool, tools: ['rec__record'], concurrency: 1 }\n",
    },
  );
  t.after(() => g.close());
  const acme = await createKey(g.file, { name: 'acme-bot', tenant: 'acme', scopes: 'x' });
  const globex = await createKey(g.file, { name: 'globex-bot', tenant: 'globex', scopes: 'x' });
  const hostile = await answer(await postModernCall(g.url, 'rec__record', { note: 'x\ud800' }, { token: acme }));
  assert.equal(hostile.error?.code, -32602, JSON.stringify(hostile));
  await sleep(1500); // past the lease's time to live: only a renewing holder would keep the slot
  const b = await answer(await postModernCall(g.url, 'rec__record', { note: 'globex' }, { token: globex }));
  assert.ok(b.result, JSON.stringify(b));
  const lines = readFileSync(rec, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"tools/call"'));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /globex/);
});

/**
 * Faults: an upstream that dies mid-call, one that writes garbage, one that never answers, one whose
 * progress never ends. The caller gets -32603 within its limits, other callers keep working, the
 * dead upstream is restarted, and nothing reaches the wrong caller.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, ROOT, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { eventually } from './support/eventually.ts';

const CHAOS = join(ROOT, 'test/fixtures/upstreams/chaos-server.ts');
let t: TestGateway;
let client: Client;

before(async () => {
  const chaos =
    stdioServer('chaos', CHAOS) +
    '    timeouts: { requestMs: 1500, maxTotalMs: 2500 }\n    restart: { initialDelayMs: 100, maxDelayMs: 1000 }\n';
  t = await startGateway(chaos + stdioServer('everything', EVERYTHING, ['stdio']));
  client = new Client({ name: 'faults', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`)));
});
after(async () => {
  await client?.close();
  await t?.close();
});

async function callError(
  name: string,
  args: Record<string, unknown> = {},
): Promise<{ code: number; message: string; ms: number }> {
  const start = Date.now();
  try {
    await client.callTool({ name, arguments: args }, undefined, { timeout: 20_000 });
  } catch (e) {
    const err = e as { code: number; message: string };
    return { code: err.code, message: err.message, ms: Date.now() - start };
  }
  assert.fail(`${name} should have failed`);
}

test('an upstream killed mid-call fails that call with -32603 while other callers keep working', async () => {
  const [dead, echo] = await Promise.all([
    callError('chaos__die'),
    client.callTool({ name: 'everything__echo', arguments: { message: 'still here' } }),
  ]);
  assert.equal(dead.code, -32603);
  assert.match(dead.message, /upstream failed/);
  assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: still here' }]);
  // The upstream received the call before it died: what happened is unknown, not a plain error.
  const rec = (await t.gw.store.audit.read({ tool: 'chaos__die', kind: 'call.outcome', limit: 10 })).map(
    (r) => r.event,
  );
  assert.deepEqual(
    rec.map((e) => e.outcome),
    ['unknown'],
  );
});

test('the dead upstream is restarted and serves again', async () => {
  await eventually(() => t.gw.upstreams.get('chaos')?.state === 'ready');
  const r = await client.callTool({ name: 'chaos__ok', arguments: {} });
  assert.deepEqual(r.content, [{ type: 'text', text: 'ok' }]);
});

test('an answer that is not UTF-8 is an error for its call, never text with U+FFFD in it', async () => {
  const e = await callError('chaos__bad_utf8');
  assert.match(e.message, /upstream/);
  assert.doesNotMatch(JSON.stringify(e), /\ufffd|rm -rf/);
});

test('garbage, unknown ids and foreign progress never reach the caller; the call times out cleanly', async () => {
  const seen: unknown[] = [];
  const start = Date.now();
  const err = await client
    .callTool({ name: 'chaos__garbage', arguments: {} }, undefined, {
      onprogress: (p) => seen.push(p),
      timeout: 20_000,
    })
    .then(
      () => undefined,
      (e: { code: number; message: string }) => e,
    );
  assert.ok(err, 'the call fails');
  assert.equal(err.code, -32603);
  assert.match(err.message, /timed out after 1500 ms/);
  assert.ok(Date.now() - start < 5000);
  assert.deepEqual(seen, []);
  const ok = await client.callTool({ name: 'chaos__ok', arguments: {} });
  assert.deepEqual(ok.content, [{ type: 'text', text: 'ok' }]);
});

test('endless progress cannot keep a call alive beyond maxTotalMs', async () => {
  let progress = 0;
  const start = Date.now();
  const err = await client
    .callTool({ name: 'chaos__progress', arguments: {} }, undefined, {
      onprogress: () => progress++,
      timeout: 20_000,
      resetTimeoutOnProgress: true,
    })
    .then(
      () => undefined,
      (e: { code: number; message: string }) => e,
    );
  assert.ok(err);
  assert.equal(err.code, -32603);
  assert.match(err.message, /timed out after 2500 ms/);
  assert.ok(progress >= 10, `progress was relayed (${progress})`);
  assert.ok(Date.now() - start < 6000);
});

test('a slow call within its limit succeeds', async () => {
  const r = await client.callTool({ name: 'chaos__slow', arguments: { ms: 300 } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'slept 300' }]);
});

test("task handles are sealed for their caller: tasks/get finds the right upstream with the upstream's own id", async () => {
  const { z } = await import('zod');
  const created = (await client.request(
    { method: 'tools/call', params: { name: 'chaos__task', arguments: {} } },
    z.object({ task: z.object({ taskId: z.string() }) }).passthrough(),
  )) as { task: { taskId: string } };
  assert.match(created.task.taskId, /^gh3\./);
  const got = (await client.request(
    { method: 'tasks/get', params: { taskId: created.task.taskId } },
    z.object({ taskId: z.string(), status: z.string() }).passthrough(),
  )) as { taskId: string; status: string };
  assert.deepEqual([got.taskId, got.status], [created.task.taskId, 'completed']);
  // The upstream's own id, or a namespaced one, names no task of this caller.
  for (const raw of ['chaos__t-1', 't-1']) {
    const e = await client
      .request({ method: 'tasks/get', params: { taskId: raw } }, z.object({}).passthrough())
      .catch((err: Error) => err);
    assert.match(String(e), /unknown task/);
  }
  const unknown = await client
    .request({ method: 'tasks/get', params: { taskId: 'ghost__t-1' } }, z.object({}).passthrough())
    .catch((e: Error) => e);
  assert.match(String(unknown), /unknown task/);
});

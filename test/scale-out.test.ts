/**
 * Three gateway replicas (child processes) behind nginx, sharing one PostgreSQL schema and one Redis
 * key prefix. Any replica serves any request of a legacy session or a modern call; a session ended on
 * one replica is gone on the others at once (Redis fan-out, not the 5 s re-check); a shared rate
 * limit and a run-time mode hold whichever replica a call lands on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { runCli } from './support/gateway.ts';
import { deployment, recordedCalls, rpcBody, waitFor } from './support/scale-out.ts';
import { postLegacy } from './support/rpc.ts';

const d = deployment('scale', 'r');
const { opts, replicas, usable } = d;

const legacyPost = (base: string, sid: string, body: unknown) => postLegacy(base, body, { sid });

const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

test('nginx spreads one legacy session over all three replicas, and each serves it', async (t) => {
  if (!(await usable(t))) return;
  const client = new Client({ name: 'scale-out', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${d.lb!.url}/mcp`));
  await client.connect(transport);
  const sid = transport.sessionId!;
  const served = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const r = await legacyPost(d.lb!.url, sid, call(100 + i, 'rec__record', { note: `spread-${i}` }));
    assert.equal(r.status, 200);
    served.add(r.headers.get('x-gatehouse-replica') ?? '');
    const body = await rpcBody(r);
    assert.match(JSON.stringify(body.result), new RegExp(`spread-${i}`));
  }
  assert.deepEqual(
    [...served].sort(),
    replicas.map((r) => `127.0.0.1:${r.port}`).sort(),
    'every replica served some of the session',
  );
  // Through the SDK as well (its requests land wherever nginx sends them).
  const listed = await client.listTools();
  assert.ok(listed.tools.some((x) => x.name === 'rec__record'));
  await client.close();
  assert.equal(
    recordedCalls(opts.recordFile).filter((c) => String(c.arguments.note).startsWith('spread-')).length,
    9,
    'each call executed once',
  );
});

test('modern (stateless) calls go through nginx to any replica', async (t) => {
  if (!(await usable(t))) return;
  const client = new ModernClient(
    { name: 'scale-out-modern', version: '2.0.0' },
    { versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(new ModernTransport(new URL(`${d.lb!.url}/mcp`)));
  assert.equal(client.getProtocolEra(), 'modern');
  for (let i = 0; i < 6; i++) {
    const r = await client.callTool({ name: 'rec__record', arguments: { note: `modern-${i}` } });
    assert.match(JSON.stringify(r.content), new RegExp(`modern-${i}`));
  }
  await client.close();
  assert.equal(recordedCalls(opts.recordFile).filter((c) => String(c.arguments.note).startsWith('modern-')).length, 6);
});

test('a session ended on one replica is refused by the others at once (fan-out over Redis)', async (t) => {
  if (!(await usable(t))) return;
  const [a, b, c] = replicas;
  const client = new Client({ name: 'fan-out', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`));
  await client.connect(transport);
  const sid = transport.sessionId!;
  // B and C cache the session.
  for (const r of [b, c])
    assert.equal((await legacyPost(r.url, sid, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).status, 200);
  assert.equal((await fetch(`${a.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).status, 204);
  // Both drop it before the 5 s for which they would otherwise trust their cached copies: fan-out.
  await Promise.all(
    [b, c].map((r) =>
      waitFor(
        `${r.name} to drop the session`,
        async () => (await legacyPost(r.url, sid, { jsonrpc: '2.0', id: 2, method: 'tools/list' })).status === 404,
        3000,
      ),
    ),
  );
  await client.close().catch(() => {});
});

test('a rate limit is one budget across the replicas (Redis)', async (t) => {
  if (!(await usable(t))) return;
  const client = new Client({ name: 'limits', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${d.lb!.url}/mcp`));
  await client.connect(transport);
  const sid = transport.sessionId!;
  let ok = 0;
  let refused = 0;
  const served = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const r = await legacyPost(d.lb!.url, sid, call(200 + i, 'rec__other', { note: `limited-${i}` }));
    served.add(r.headers.get('x-gatehouse-replica') ?? '');
    const body = await rpcBody(r);
    if (body.result && !body.result.isError) ok++;
    else refused++;
  }
  assert.equal(served.size, 3);
  assert.equal(ok, 4, 'the rule allows 4 per hour in all, not 4 per replica');
  assert.equal(refused, 5);
  assert.equal(recordedCalls(opts.recordFile).filter((c) => String(c.arguments.note).startsWith('limited-')).length, 4);
  await client.close();
});

test('a mode set from the CLI applies on every replica', async (t) => {
  if (!(await usable(t))) return;
  const set = await runCli(
    ['mode', 'set', 'disabled', '--tool', 'rec__record', '--reason', 'scale-out drill', '-c', replicas[0].file],
    { env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey } },
  );
  assert.equal(set.code, 0, set.stderr);
  try {
    for (const r of replicas) {
      const client = new Client({ name: 'modes', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${r.url}/mcp`)));
      await waitFor(
        `${r.name} to refuse the disabled tool`,
        async () => {
          const res = await client
            .callTool({ name: 'rec__record', arguments: { note: `mode-${r.name}` } })
            .catch((err: Error) => ({ isError: true, content: err.message }));
          return res.isError === true;
        },
        5000,
      );
      await client.close();
    }
  } finally {
    const clear = await runCli(['mode', 'clear', '--tool', 'rec__record', '-c', replicas[0].file], {
      env: { GATEHOUSE_SECRETS_KEY: opts.secretsKey },
    });
    assert.equal(clear.code, 0, clear.stderr);
  }
});

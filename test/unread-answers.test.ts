/**
 * What a client leaves unread of its answers is held from its tenant's share of the request budget
 * (`gateway.maxBufferedRequestBytes`), with its requests' bodies. Before, nothing bounded it: a client
 * that sent calls of a tool with large answers on many connections and never read them kept every
 * answer in the gateway's memory (60 connections of one key with 8 MB answers: 134 MB to 1.2 GB,
 * walk I). Now, past the tenant's share, an answer is cut off (its connection closed), counted and
 * logged; another tenant's calls and answers are not affected, and every byte comes back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ROOT, createKey, startGateway, stdioServer, type TestGateway } from './support/gateway.ts';
import { modernHeaders, modernMeta, postModernCall, replyOf } from './support/rpc.ts';
import { eventually } from './support/eventually.ts';

const MIB = 1024 * 1024;
let t: TestGateway;
const keys: Record<string, string> = {};

before(async () => {
  t = await startGateway(
    `${stdioServer('big', join(ROOT, 'test/fixtures/upstreams/big-answer-server.ts'))}    tools: { fill: { class: READ } }\n`,
    {
      // A budget of 2 MiB: each tenant's half is 1 MiB.
      gateway: '  maxBodyBytes: 65536\n  maxBufferedRequestBytes: 2097152\n',
      top: 'identity: { apiKeys: true }\ninventory: { newTools: accept }\n',
    },
  );
  for (const tenant of ['acme', 'globex']) keys[tenant] = await createKey(t.file, { name: tenant, tenant });
});
after(async () => {
  await t?.close();
});

/** A raw connection that sends one modern call of `big__fill` for `bytes` and reads nothing until told. */
function unreadCall(tenant: string, bytes: number): { socket: Socket; readAll(): Promise<{ bytes: number }> } {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'big__fill', arguments: { bytes }, _meta: modernMeta() },
  });
  const url = new URL(t.url);
  const socket = connect(Number(url.port), url.hostname);
  const headers = { ...modernHeaders('tools/call', 'big__fill'), authorization: `Bearer ${keys[tenant]}` };
  socket.write(
    `POST /mcp HTTP/1.1\r\nhost: ${url.host}\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.pause();
  return {
    socket,
    readAll: () =>
      new Promise((resolve) => {
        let n = 0;
        socket.on('data', (d: Buffer) => {
          n += d.length;
        });
        socket.once('close', () => resolve({ bytes: n }));
        socket.resume();
      }),
  };
}

test("answers left unread past the tenant's share are cut off; another tenant is served meanwhile, and every byte comes back", async () => {
  // Four calls of acme's, each answered 16 MiB that its client never reads: more than the kernel's
  // buffers take, and what is left is more than acme's half of the budget.
  const unread = Array.from({ length: 4 }, () => unreadCall('acme', 16 * MIB));
  // Every answer was written once its outcome is recorded.
  const answered = async () =>
    (await t.gw.store.audit.read({ kind: 'call.outcome', limit: 1000 })).filter(
      (r) => r.event.tool === 'big__fill' && (r.event.actor as { tenant: string }).tenant === 'acme',
    ).length;
  await eventually(async () => (await answered()) >= 4, { timeoutMs: 60_000 });
  // Never more than acme's half held, whatever its clients leave unread.
  await eventually(() => t.gw.requestBytes.heldBy('acme') === 0, { timeoutMs: 10_000 });
  // globex is served meanwhile, its answer read whole.
  const g = await postModernCall(t.url, 'big__fill', { bytes: 200_000 }, { token: keys.globex });
  assert.equal(g.status, 200);
  const text = ((await replyOf(g)).result?.content as Array<{ text: string }> | undefined)?.[0]?.text;
  assert.equal(text?.length, 200_000);
  // Read now: each answer ends short, its connection closed (before, each arrived whole, 64 MiB held).
  const read = await Promise.all(unread.map((u) => Promise.race([u.readAll(), closeAfter(u.socket, 5000)])));
  for (const r of read) assert.ok(r.bytes < 16 * MIB, `read ${r.bytes}: not cut off`);
  assert.equal(t.gw.requestBytes.held, 0);
});

/** Whatever a connection received within `ms` of being read (it is closed then). */
function closeAfter(socket: Socket, ms: number): Promise<{ bytes: number }> {
  return new Promise((resolve) => {
    let n = 0;
    socket.on('data', (d: Buffer) => {
      n += d.length;
    });
    setTimeout(() => {
      socket.destroy();
      resolve({ bytes: n });
    }, ms);
  });
}

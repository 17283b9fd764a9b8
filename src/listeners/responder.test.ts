import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyDigests, paginateKeyed, type CursorBinding } from '../gateway/paginate.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { Responder } from './responder.ts';

const binding: CursorBinding = { key: Buffer.alloc(32, 1), bind: 'tools/list' };

/** A listing answer holding a kept page (the bytes of a page are cached and written as they are). */
function listing(id: number): JsonRpcMessage {
  const items = [{ name: 'a', description: 'ä 日本 🙂' }, { name: 'b' }];
  const keyed = { items, keys: keyDigests(items, (i) => i.name), pages: new Map() };
  return { jsonrpc: '2.0', id, result: { tools: paginateKeyed(keyed, undefined, 10, binding).page } };
}

/** One POST answered by `answer` on a real HTTP server; the status, headers and body the client read. */
async function exchange(answer: (res: ServerResponse) => void) {
  const server = createServer((_req, res) => answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST' });
    return {
      status: r.status,
      type: r.headers.get('content-type'),
      length: r.headers.get('content-length'),
      body: await r.text(),
    };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('Responder: a listing goes out as JSON, byte for byte what JSON.stringify writes, with its length', async () => {
  const msg = listing(1);
  const got = await exchange((res) => new Responder(res, true, { 'mcp-session-id': 'x' }).finish(msg));
  assert.equal(got.status, 200);
  assert.equal(got.type, 'application/json');
  assert.equal(got.body, JSON.stringify(msg));
  assert.equal(Number(got.length), Buffer.byteLength(JSON.stringify(msg)));
});

test('Responder: after a notification the answer is an SSE stream, the listing its last event', async () => {
  const msg = listing(2);
  const note: JsonRpcMessage = { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } };
  const got = await exchange((res) => {
    const out = new Responder(res, true);
    out.send(note);
    out.finish(msg);
  });
  assert.equal(got.type, 'text/event-stream');
  assert.equal(
    got.body,
    `event: message\ndata: ${JSON.stringify(note)}\n\nevent: message\ndata: ${JSON.stringify(msg)}\n\n`,
  );
});

test('Responder: any other answer is its JSON text; a status applies when nothing was streamed', async () => {
  const msg: JsonRpcMessage = { jsonrpc: '2.0', id: 3, error: { code: -32602, message: 'nö' } };
  const got = await exchange((res) => new Responder(res, false).finish(msg, 400));
  assert.equal(got.status, 400);
  assert.equal(got.body, JSON.stringify(msg));
  assert.equal(Number(got.length), Buffer.byteLength(JSON.stringify(msg)));
});

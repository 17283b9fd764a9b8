import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { keyDigests, paginateKeyed, type CursorBinding } from '../gateway/paginate.ts';
import type { JsonRpcMessage } from '../protocol/jsonrpc.ts';
import { MAX_UNREAD_BYTES, Responder, StreamSink } from './responder.ts';
import { bodyBudget } from './request-bytes.ts';
import { RequestBudget } from '../util/request-budget.ts';

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

/**
 * A client that sends its request and then stops reading; `feed` writes to the response until it
 * returns false. The server side's view: how many messages went out before the stream closed.
 */
async function unreadClient(feed: (res: ServerResponse) => Promise<number>): Promise<number> {
  let sent = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const server = createServer(async (_req, res) => {
    sent = await feed(res);
    done();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  socket.pause(); // never reads
  try {
    await finished;
    return sent;
  } finally {
    socket.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const BIG: JsonRpcMessage = {
  jsonrpc: '2.0',
  method: 'notifications/resources/updated',
  params: { uri: `file:///${'x'.repeat(256 * 1024)}` },
};
/** Sends BIG until the sink closes or 400 were sent (100 MB); how many went out. */
async function flood(sink: { send(m: JsonRpcMessage): void; readonly closed: boolean }): Promise<number> {
  let n = 0;
  while (!sink.closed && n < 400) {
    sink.send(BIG);
    n++;
    await new Promise((r) => setImmediate(r));
  }
  return sink.closed ? n : Number.POSITIVE_INFINITY;
}

test('a stream whose client stops reading is cut off once MAX_UNREAD_BYTES are waiting, not held in memory', async () => {
  const per = Buffer.byteLength(JSON.stringify(BIG));
  const most = Math.ceil(MAX_UNREAD_BYTES / per) + 64; // the bound, plus what the kernel's buffers take
  const get = await unreadClient((res) => flood(new StreamSink(res)));
  assert.ok(get < most, `a GET stream took ${get} messages of ${per} bytes`);
  const post = await unreadClient((res) => flood(new Responder(res, true)));
  assert.ok(post < most, `a POST's stream took ${post} messages`);
});

test("what a client leaves unread is held from its tenant's share: a stream is cut off past it, long before MAX_UNREAD_BYTES", async () => {
  const budget = new RequestBudget(4 * 1024 * 1024); // acme's half: 2 MiB
  const per = Buffer.byteLength(JSON.stringify(BIG));
  let most = 0;
  const sent = await unreadClient(async (res) => {
    const hold = bodyBudget(budget, res, 'acme');
    const sink = new StreamSink(res, {}, undefined, hold);
    const n = await flood({
      send: (m) => {
        sink.send(m);
        most = Math.max(most, budget.heldBy('acme'));
      },
      get closed() {
        return sink.closed;
      },
    });
    return n;
  });
  // The kernel's buffers take a few MiB on loopback; the rest, at most acme's half, waited here.
  assert.ok(sent * per < 2 * 1024 * 1024 + 8 * 1024 * 1024, `${sent} messages of ${per} bytes went out`);
  assert.ok(most > 0 && most <= 2 * 1024 * 1024, `acme held at most ${most}`);
  assert.equal(budget.held, 0, 'given back once the stream closed');
});

test('an answer its client leaves unread is held while it waits and given back when its connection goes; past the share, one goes on while its client reads, and is cut off once it stops', async () => {
  const budget = new RequestBudget(64 * 1024 * 1024); // acme's half: 32 MiB
  let heldWhileUnread = 0;
  let cut = false;
  await unreadClient(async (res) => {
    new Responder(res, false, {}, bodyBudget(budget, res, 'acme')).finish(answer(24));
    heldWhileUnread = budget.heldBy('acme');
    cut = res.destroyed;
    return 1;
  });
  assert.ok(heldWhileUnread > 8 * 1024 * 1024, `held ${heldWhileUnread}: what was left unread is counted`);
  assert.equal(cut, false, 'within the share: written, not cut off');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(budget.held, 0, 'given back once its connection went');
  // Past acme's half: it goes on at first, and is cut off once its client has read nothing for a while.
  let stalled: ServerResponse | undefined;
  const t0 = performance.now();
  await unreadClient(async (res) => {
    new Responder(res, false, {}, bodyBudget(budget, res, 'acme')).finish(answer(48));
    stalled = res;
    assert.equal(res.destroyed, false, 'one answer past the share goes out while its client reads');
    await new Promise<void>((resolve) => res.once('close', () => resolve()));
    return 1;
  });
  assert.ok(stalled?.destroyed);
  assert.ok(performance.now() - t0 >= 1500, 'cut off after its client made no progress for a while');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(budget.held, 0);
});

test("past the share, a client that reads gets its answer whole; a second answer of its tenant's past the share meanwhile is cut off", async () => {
  const budget = new RequestBudget(8 * 1024 * 1024); // acme's half: 4 MiB
  const cut: boolean[] = [];
  const server = createServer((_req, res) => {
    new Responder(res, false, {}, bodyBudget(budget, res, 'acme')).finish(answer(24));
    cut.push(res.destroyed);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    // Read as it comes: whole, though it is six times acme's half.
    const whole = await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' })).text();
    assert.ok(whole.length > 24 * 1024 * 1024, `read ${whole.length}`);
    // One left unread is past the share (it goes on while it waits); a second of acme's meanwhile is cut off.
    const unread = connect(port, '127.0.0.1');
    unread.on('error', () => {});
    unread.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n');
    unread.pause();
    for (let i = 0; i < 100 && cut.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const second = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' })
      .then((r) => r.text())
      .then((t) => t.length)
      .catch(() => -1);
    assert.deepEqual(cut, [false, false, true], 'the third answer was cut off at once');
    assert.ok(second < 24 * 1024 * 1024, `the second read ${second}`);
    unread.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(budget.held, 0);
});

test('answers pipelined on a connection its client does not read are cut off with the connection, not sent later uncounted', async () => {
  const budget = new RequestBudget(16 * 1024 * 1024); // acme's half: 8 MiB
  let written = 0;
  let connection: import('node:net').Socket | undefined;
  const server = createServer((req, res) => {
    written++;
    connection = req.socket;
    new Responder(res, false, {}, bodyBudget(budget, res, 'acme')).finish(answer(8));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  try {
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n'.repeat(6));
    socket.pause(); // reads nothing until the gateway is done with it
    for (let i = 0; i < 100 && written < 3; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(budget.heldBy('acme') <= 8 * 1024 * 1024 + 8 * 1024 * 1024 + 1024, `held ${budget.heldBy('acme')}`);
    // Closed now, while nothing is read: before, only the response was destroyed, and a pipelined
    // one waits for the connection, so its answer stayed queued (and was sent later, uncounted).
    assert.equal(connection?.destroyed, true, 'the connection was closed at once');
    // Read now: far less than six answers arrive, and the connection is closed.
    const got = await new Promise<number>((resolve) => {
      let n = 0;
      socket.on('data', (d: Buffer) => {
        n += d.length;
      });
      socket.once('close', () => resolve(n));
      socket.resume();
    });
    assert.ok(got < 3 * 8 * 1024 * 1024, `read ${got} bytes`);
  } finally {
    socket.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(budget.held, 0);
});

/** An answer of `mib` MiB of text. */
function answer(mib: number): JsonRpcMessage {
  return { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x'.repeat(mib * 1024 * 1024) }] } };
}

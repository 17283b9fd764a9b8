import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { takingTurns } from './request-turns.ts';

/** A server whose handler answers each request `later` ms after it began, counting how many it handles at once. */
async function server(later: number, queue?: number) {
  const seen = { handled: [] as string[], most: 0, now: 0, overflows: 0 };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    seen.handled.push(req.url ?? '');
    seen.most = Math.max(seen.most, ++seen.now);
    setTimeout(() => {
      seen.now--;
      res.end(`answer ${req.url}`);
    }, later);
  };
  const s = createServer(takingTurns(handle, () => seen.overflows++, queue));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  return { s, port, seen, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

const requests = (n: number) => Array.from({ length: n }, (_, i) => `GET /r${i} HTTP/1.1\r\nhost: x\r\n\r\n`).join('');

/** Sends `text` at once on a new connection; resolves with all that came back once the connection closes or `until` matches. */
function pipeline(
  port: number,
  text: string,
  until?: (got: string) => boolean,
): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c: Socket = connect(port, '127.0.0.1', () => c.write(text));
    let got = '';
    c.on('data', (d) => {
      got += d.toString();
      if (until?.(got)) {
        c.destroy();
        resolve({ got, closed: false });
      }
    });
    c.on('close', () => resolve({ got, closed: true }));
    c.on('error', () => {});
  });
}

test('pipelined requests of one connection are handled one at a time, in order, each answered', async () => {
  const { port, seen, close } = await server(5);
  try {
    const { got } = await pipeline(port, requests(10), (g) => (g.match(/answer \/r\d+/g) ?? []).length === 10);
    assert.deepEqual(
      got.match(/answer \/r\d+/g),
      Array.from({ length: 10 }, (_, i) => `answer /r${i}`),
    );
    assert.equal(seen.most, 1, 'never two requests of one connection at once');
    assert.equal(seen.overflows, 0);
  } finally {
    await close();
  }
});

test('two connections are served at once: turns are per connection', async () => {
  const { port, seen, close } = await server(30);
  try {
    await Promise.all([
      pipeline(port, requests(2), (g) => (g.match(/answer/g) ?? []).length === 2),
      pipeline(port, requests(2), (g) => (g.match(/answer/g) ?? []).length === 2),
    ]);
    assert.equal(seen.most, 2);
  } finally {
    await close();
  }
});

test('a connection that sends more requests ahead than may wait is closed; what it sent past the queue is never handled', async () => {
  const { port, seen, close } = await server(50, 4);
  try {
    const { closed, got } = await pipeline(port, requests(200));
    assert.ok(closed);
    assert.equal(seen.overflows, 1);
    // The one in its turn and the four waiting at most, never the rest (nor, once closed, the waiting).
    assert.ok(seen.handled.length <= 5, `handled ${seen.handled.length}`);
    assert.ok(!/answer \/r(1\d|[5-9])\b/.test(got));
  } finally {
    await close();
  }
});

test('requests waiting on a connection that closes are dropped, not handled', async () => {
  const { port, seen, close } = await server(100);
  try {
    const c = connect(port, '127.0.0.1', () => c.write(requests(5)));
    c.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 30));
    c.destroy();
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.deepEqual(seen.handled, ['/r0']);
  } finally {
    await close();
  }
});

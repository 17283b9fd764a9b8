/**
 * The upstream HTTP client against raw TCP (and TLS) servers on loopback that see exactly the bytes
 * sent and answer exactly the bytes a test chooses: what goes out, keep-alive and its limits, the
 * connection cap and the queue, cancellation, timeouts, servers that close, lie or chatter, header
 * injection refused before anything is sent, an untrusted certificate refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { OriginPool, type RequestOptions } from './pool.ts';
import type { ResponseHeaders } from './parser.ts';

const LIMIT = { timeout: 10_000 };

interface Req {
  head: string;
  body: string;
  socket: net.Socket;
}

/** A TCP server on `host` that hands each request (head and body, read by Content-Length) to `answer`. */
async function server(answer: (req: Req) => void, secure?: { key: Buffer; cert: Buffer }, host = '127.0.0.1') {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let open = 0;
  let most = 0;
  const onSocket = (socket: net.Socket) => {
    connections++;
    most = Math.max(most, ++open);
    sockets.add(socket);
    socket.on('close', () => {
      open--;
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.toString('utf8', end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        answer({ head, body, socket });
      }
    });
  };
  const srv = secure ? tls.createServer(secure, onSocket) : net.createServer(onSocket);
  await new Promise<void>((r) => srv.listen(0, host, r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    origin: `${secure ? 'https' : 'http'}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
    port,
    get connections() {
      return connections;
    },
    get open() {
      return open;
    },
    get most() {
      return most;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

const ok = (body = 'ok', extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface Result {
  status?: number;
  headers?: ResponseHeaders;
  body: string;
  error?: Error;
  events: string[];
}

/** One exchange to its end (or error), with everything the handler heard. */
function send(
  pool: OriginPool,
  req: Partial<RequestOptions> = {},
): { done: Promise<Result>; cancel: () => void; heard: Result } {
  const r: Result = { body: '', events: [] };
  let settle: (r: Result) => void = () => {};
  const done = new Promise<Result>((resolve) => {
    settle = resolve;
  });
  const cancel = pool.dispatch(
    { method: 'POST', path: '/mcp', headers: { 'content-type': 'application/json' }, body: '{}', ...req },
    {
      head: (status, headers) => {
        r.events.push('head');
        r.status = status;
        r.headers = headers;
      },
      data: (chunk) => {
        r.events.push('data');
        r.body += chunk.toString();
      },
      end: () => {
        r.events.push('end');
        settle(r);
      },
      error: (err) => {
        r.events.push('error');
        r.error = err;
        settle(r);
      },
    },
  );
  return { done, cancel, heard: r };
}

const until = async (cond: () => boolean, ms = 3000) => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 5)))
    if (Date.now() > end) throw new Error('condition not met in time');
};

test('sends exactly the request asked for, and keeps one connection alive across requests', LIMIT, async () => {
  const seen: Req[] = [];
  const srv = await server((req) => {
    seen.push(req);
    req.socket.write(ok(`echo ${req.body}`, 'Keep-Alive: timeout=30\r\n'));
  });
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    const body = '{"text":"é ✓"}';
    const first = await send(pool, {
      path: '/mcp?x=1',
      headers: { 'content-type': 'application/json', 'mcp-session-id': 's1' },
      body,
    }).done;
    assert.equal(first.status, 200);
    assert.equal(first.body, `echo ${body}`);
    assert.deepEqual(first.events, ['head', 'data', 'end']);
    assert.equal(
      seen[0]?.head,
      `POST /mcp?x=1 HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\ncontent-length: ${Buffer.byteLength(body)}`,
    );
    const second = await send(pool, { method: 'GET', body: undefined, headers: { accept: 'text/event-stream' } }).done;
    assert.equal(second.body, 'echo ');
    assert.equal(seen[1]?.head, `GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:${srv.port}\r\naccept: text/event-stream`);
    assert.equal(srv.connections, 1);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('an IPv6 origin: connects to the address without brackets, names it with them in Host', LIMIT, async () => {
  const seen: string[] = [];
  const srv = await server(
    (req) => {
      seen.push(`${req.socket.localAddress} ${req.head.split('\r\n')[1]}`);
      req.socket.write(ok('six'));
    },
    undefined,
    '::1',
  );
  const pool = new OriginPool(srv.origin, { connections: 2, keepAliveMs: 30_000 });
  try {
    const r = await send(pool).done;
    assert.equal(r.error, undefined);
    assert.equal(r.body, 'six');
    assert.deepEqual(seen, [`::1 host: [::1]:${srv.port}`]);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('refuses injected headers, headers it owns and bad paths: nothing reaches the server', LIMIT, async () => {
  const srv = await server((req) => req.socket.write(ok()));
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    const refusals: Array<[Partial<RequestOptions>, RegExp]> = [
      [{ headers: { 'x-a': 'a\r\nx-evil: 1' } }, /invalid value of header `x-a`/],
      [{ headers: { 'x-a': 'a\nb' } }, /invalid value/],
      [{ headers: { 'x-a': 'a\0b' } }, /invalid value/],
      [{ headers: { 'x-a': 'ā' } }, /invalid value/],
      [{ headers: { 'bad name': 'x' } }, /invalid header name/],
      [{ headers: { 'x-a\r\nx-evil': 'x' } }, /invalid header name/],
      [{ headers: { Host: 'evil.example' } }, /`Host` is set by the client/],
      [{ headers: { 'content-length': '0' } }, /set by the client/],
      [{ headers: { 'transfer-encoding': 'chunked' } }, /set by the client/],
      // walk S: they describe the body the client writes as it is (never encoded, never with trailers).
      [{ headers: { 'Content-Encoding': 'gzip' } }, /`Content-Encoding` is set by the client/],
      [{ headers: { trailer: 'x-sum' } }, /`trailer` is set by the client/],
      [{ path: 'mcp' }, /invalid request path/],
      [{ path: '/a b' }, /invalid request path/],
      [{ path: '/a\r\nx: y' }, /invalid request path/],
    ];
    for (const [req, why] of refusals) assert.throws(() => send(pool, req), why);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(srv.connections, 0);
    // Latin-1 values go out as their bytes.
    assert.equal((await send(pool, { headers: { 'x-a': 'café' } }).done).status, 200);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('at most `connections` at once; the rest wait their turn and are all answered', LIMIT, async () => {
  const srv = await server((req) => setTimeout(() => req.socket.write(ok(req.body)), 20));
  const pool = new OriginPool(srv.origin, { connections: 2, keepAliveMs: 30_000 });
  try {
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => send(pool, { body: String(i) }).done));
    assert.deepEqual(
      results.map((r) => r.body),
      ['1', '2', '3', '4', '5', '6'],
    );
    assert.equal(srv.most, 2);
    assert.equal(srv.connections, 2);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test(
  'a cancelled request closes its connection, and nothing is heard after; a waiting one is never sent',
  LIMIT,
  async () => {
    const seen: string[] = [];
    const srv = await server((req) => {
      seen.push(req.body);
      if (req.body !== 'first') req.socket.write(ok(req.body));
    });
    const pool = new OriginPool(srv.origin, { connections: 1, keepAliveMs: 30_000 });
    try {
      const out = send(pool, { body: 'first' });
      const waiting = send(pool, { body: 'second' });
      await until(() => seen.length === 1);
      waiting.cancel();
      out.cancel();
      await until(() => srv.open === 0);
      assert.equal((await send(pool, { body: 'third' }).done).body, 'third');
      assert.deepEqual(seen, ['first', 'third']);
      assert.deepEqual(out.heard.events, []);
      assert.deepEqual(waiting.heard.events, []);
    } finally {
      await pool.destroy();
      await srv.close();
    }
  },
);

test('a connection the server closes, or marks close, is not used again', LIMIT, async () => {
  let n = 0;
  const srv = await server((req) => {
    n++;
    if (n === 1) req.socket.write(ok('a', 'Connection: close\r\n'));
    else if (n === 2)
      req.socket.end(ok('b')); // answers, then closes while idle
    else req.socket.write(ok('c'));
  });
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    assert.equal((await send(pool).done).body, 'a');
    assert.equal((await send(pool).done).body, 'b');
    await until(() => srv.open === 0);
    assert.equal((await send(pool).done).body, 'c');
    assert.equal(srv.connections, 3);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('bytes from the server between requests close that connection; a second answer is never read', LIMIT, async () => {
  let n = 0;
  const srv = await server((req) => {
    n++;
    if (n === 1) {
      req.socket.write(ok('one'));
      setTimeout(() => req.socket.write(ok('smuggled')), 20);
    } else req.socket.write(ok('two'));
  });
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    assert.equal((await send(pool).done).body, 'one');
    await until(() => srv.open === 0);
    assert.equal((await send(pool).done).body, 'two');
    assert.equal(srv.connections, 2);
    // In the same packet as the answer: the answer is delivered, the rest closes the connection.
    const glued = await server((req) => req.socket.write(ok('one') + ok('smuggled')));
    const other = new OriginPool(glued.origin, { connections: 4, keepAliveMs: 30_000 });
    assert.equal((await send(other).done).body, 'one');
    await until(() => glued.open === 0);
    await other.destroy();
    await glued.close();
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test("an idle connection is closed before the server's idle time runs out, announced or not", {
  timeout: 20_000,
}, async () => {
  const srv = await server((req) => req.socket.write(ok('x', 'Keep-Alive: timeout=2\r\n')));
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    await send(pool).done;
    await send(pool).done;
    assert.equal(srv.connections, 2, '2 s announced, less the 2 s margin: not kept at all');
    await until(() => srv.open === 0);
  } finally {
    await pool.destroy();
    await srv.close();
  }
  // None announced: kept for 4 s.
  const quiet = await server((req) => req.socket.write(ok('x')));
  const plain = new OriginPool(quiet.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    await send(plain).done;
    await new Promise((r) => setTimeout(r, 1500));
    await send(plain).done;
    assert.equal(quiet.connections, 1, 'reused within 4 s');
    await until(() => quiet.open === 0, 6000);
  } finally {
    await plain.destroy();
    await quiet.close();
  }
  const kept = await server((req) => req.socket.write(ok('x', 'Keep-Alive: timeout=3\r\n')));
  const short = new OriginPool(kept.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    await send(short).done;
    await send(short).done;
    assert.equal(kept.connections, 1, 'reused within the second it may idle');
    await until(() => kept.open === 0, 4000); // closed by the sweep about 1-2 s later
  } finally {
    await short.destroy();
    await kept.close();
  }
});

test('a server silent past the timeouts, or gone mid-answer, fails the request', LIMIT, async () => {
  const srv = await server((req) => {
    if (req.body === 'head') req.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    if (req.body === 'gone') req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
  });
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    const silent = await send(pool, { body: 'none', headersTimeout: 300 }).done;
    assert.match(silent.error?.message ?? '', /headers timeout/);
    const stalled = await send(pool, { body: 'head', bodyTimeout: 300 }).done;
    assert.match(stalled.error?.message ?? '', /body timeout/);
    assert.deepEqual(stalled.events, ['head', 'data', 'error']);
    const gone = await send(pool, { body: 'gone' }).done;
    assert.match(gone.error?.message ?? '', /closed before the response ended/);
    await until(() => srv.open === 0);
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('an answer in one-byte pieces, chunked, arrives whole', LIMIT, async () => {
  const srv = await server(async (req) => {
    const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nevent\r\n0\r\n\r\n';
    for (const byte of raw) {
      req.socket.write(byte);
      await new Promise((r) => setImmediate(r));
    }
  });
  const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
  try {
    const r = await send(pool).done;
    assert.equal(r.body, 'event');
    assert.equal(r.events.at(-1), 'end');
  } finally {
    await pool.destroy();
    await srv.close();
  }
});

test('https: an upstream whose certificate is not trusted is refused before anything is sent', LIMIT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const seen: string[] = [];
    const srv = await server(
      (req) => {
        seen.push(req.body);
        req.socket.write(ok());
      },
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    );
    const pool = new OriginPool(srv.origin, { connections: 4, keepAliveMs: 30_000 });
    try {
      const r = await send(pool, { body: '{"secret":"canary"}' }).done;
      assert.match((r.error as NodeJS.ErrnoException | undefined)?.code ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY/);
      assert.deepEqual(seen, []);
    } finally {
      await pool.destroy();
      await srv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('destroy ends requests out and waiting, and the pool then refuses to send', LIMIT, async () => {
  const srv = await server(() => {});
  try {
    const pool = new OriginPool(srv.origin, { connections: 1, keepAliveMs: 30_000 });
    const out = send(pool);
    const waiting = send(pool);
    await until(() => srv.connections === 1);
    await pool.destroy();
    assert.match((await out.done).error?.message ?? '', /pool closed/);
    assert.match((await waiting.done).error?.message ?? '', /pool closed/);
    assert.throws(() => send(pool), /pool closed/);
  } finally {
    await srv.close();
  }
});

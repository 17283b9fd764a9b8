/**
 * The HTTP/1.1 response parser on exact bytes: every framing read the same whatever the pieces
 * (every split point, byte by byte), and the hostile cases refused: smuggling (both lengths, other
 * transfer codings, disagreeing lengths), injection (bare LF, NUL, obs-fold), unbounded heads,
 * huge chunk sizes, data after a response, a connection that ends early.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpParseError, MAX_HEAD_BYTES, ResponseParser, type ResponseHeaders } from './parser.ts';

interface Seen {
  status?: number;
  headers?: ResponseHeaders;
  body: string;
  ends: boolean[];
}

function parser(method = 'POST'): { p: ResponseParser; seen: Seen } {
  const seen: Seen = { body: '', ends: [] };
  const p = new ResponseParser({
    head: (status, headers) => {
      seen.status = status;
      seen.headers = headers;
    },
    data: (chunk) => {
      seen.body += chunk.toString('latin1');
    },
    end: (reusable) => seen.ends.push(reusable),
  });
  p.expect(method);
  return { p, seen };
}

/** Parses `raw` fed in pieces of the given sizes (the rest as the last piece). */
function feed(raw: string, sizes: number[] = [], method = 'POST'): Seen {
  const { p, seen } = parser(method);
  const bytes = Buffer.from(raw, 'latin1');
  let at = 0;
  for (const n of sizes) {
    p.push(bytes.subarray(at, at + n));
    at += n;
  }
  if (at < bytes.length) p.push(bytes.subarray(at));
  return seen;
}

/** Every way of cutting `raw` in two, and byte by byte: each gives the same as the whole. */
function everySplit(raw: string, method = 'POST'): Seen {
  const whole = feed(raw, [], method);
  for (let cut = 1; cut < raw.length; cut++) assert.deepEqual(feed(raw, [cut], method), whole, `cut at ${cut}`);
  assert.deepEqual(feed(raw, Array(raw.length).fill(1), method), whole, 'byte by byte');
  return whole;
}

const refused = (raw: string, what: RegExp, sizes: number[] = []) =>
  assert.throws(
    () => feed(raw, sizes),
    (err) => err instanceof HttpParseError && what.test(err.message),
  );

test('a Content-Length body, however it is cut, arrives whole and the connection stays reusable', () => {
  const seen = everySplit('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"a":"bcd"}');
  assert.equal(seen.status, 200);
  assert.equal(seen.headers?.['content-type'], 'application/json');
  assert.equal(seen.body, '{"a":"bcd"}');
  assert.deepEqual(seen.ends, [true]);
});

test('a chunked body with extensions and trailers, however it is cut, arrives without its framing', () => {
  const raw =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;name=value\r\nhello\r\n1\r\n \r\nA\r\nworld-0123\r\n0\r\nX-Trailer: t\r\n\r\n';
  const seen = everySplit(raw);
  assert.equal(seen.body, 'hello world-0123');
  assert.deepEqual(seen.ends, [true]);
  assert.deepEqual(
    everySplit('HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n').body,
    'abc',
  );
});

test('informational heads are skipped; repeated headers become a list; names are lowercased', () => {
  const seen = everySplit(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
      'HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 2\r\n\r\nok',
  );
  assert.equal(seen.status, 201);
  assert.deepEqual(seen.headers?.['set-cookie'], ['a=1', 'b=2']);
  assert.equal(seen.headers?.link, undefined);
  assert.equal(seen.body, 'ok');
});

test('when the connection can carry another request', () => {
  assert.deepEqual(feed('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').ends, [false]);
  assert.deepEqual(feed('HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n').ends, [false]);
  assert.deepEqual(feed('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').ends, [false]);
  assert.deepEqual(feed('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').ends, [true]);
  // No length: the body is everything until the server closes, and the connection is spent.
  const { p, seen } = parser();
  p.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil'));
  p.push(Buffer.from(' close'));
  assert.deepEqual(seen.ends, []);
  p.eof();
  assert.equal(seen.body, 'until close');
  assert.deepEqual(seen.ends, [false]);
});

test('204, 304 and the answer to HEAD have no body, whatever their headers say', () => {
  assert.deepEqual(feed('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n').ends, [true]);
  assert.deepEqual(feed('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n').ends, [true]);
  assert.deepEqual(feed('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', [], 'HEAD').ends, [true]);
});

test('request smuggling: two framings, other codings and disagreeing lengths are refused', () => {
  refused('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', /both/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /transfer-encoding/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', /transfer-encoding/);
  refused('HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n', /transfer-encoding/);
  refused('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', /content-length/);
  refused('HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd', /content-length/);
  for (const bad of ['+3', '-1', '0x3', '3 3', '3.0', '', '99999999999999999'])
    refused(`HTTP/1.1 200 OK\r\nContent-Length: ${bad}\r\n\r\nabc`, /content-length/);
  // Refused before the head is handed on: nothing of such an answer is acted upon.
  const { p, seen } = parser();
  assert.throws(() =>
    p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n')),
  );
  assert.equal(seen.status, undefined);
  // The same length twice is what RFC 9112 allows.
  assert.equal(feed('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc').body, 'abc');
});

test('malformed heads are refused: status lines, bare LF, NUL, obs-fold, names that are not tokens', () => {
  for (const line of [
    'HTTP/2 200 OK',
    'HTTP/1.1 20 OK',
    'HTTP/1.1 099 x',
    'ICY 200 OK',
    'HTTP/1.1  200 OK',
    'http/1.1 200 OK',
  ])
    refused(`${line}\r\nContent-Length: 0\r\n\r\n`, /status line/);
  refused('HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n', /header value/);
  refused('HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n', /header value/);
  refused('HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n', /folded/);
  refused('HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc', /header name/);
  refused('HTTP/1.1 200 OK\r\nno colon\r\n\r\n', /without a name/);
  refused(
    'HTTP/1.1 200 OK\r\nX-Trailer: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n',
    /trailer name/,
  );
  refused('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /switching protocols/);
});

test('a head or trailer section past 64 KiB is refused, whole or trickled, without keeping more', () => {
  const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`;
  refused(big, /head larger than/);
  refused(big, /head larger than/, Array(MAX_HEAD_BYTES + 100).fill(1));
  const never = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES + 10)}`; // the blank line never comes
  refused(never, /head larger than/, [10, 10]);
  refused(
    `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'t'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`,
    /trailer section larger than/,
  );
});

test('chunk framing is checked: sizes are hex within bounds, data ends with CRLF', () => {
  const chunked = (body: string) => `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
  refused(chunked('zz\r\nab\r\n0\r\n\r\n'), /chunk size/);
  refused(chunked('-1\r\n'), /chunk size/);
  refused(chunked('fffffffffffffff\r\n'), /chunk size/);
  refused(chunked(`${'1'.repeat(5000)}`), /chunk size line larger than/);
  refused(chunked('3\r\nabcX\r\n0\r\n\r\n'), /CRLF/);
  refused(chunked('3\r\nabc\rX0\r\n\r\n'), /CRLF/);
});

test('bytes after a complete response are an error once its end was reported: never a second answer', () => {
  const { p, seen } = parser();
  assert.throws(
    () =>
      p.push(
        Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil'),
      ),
    /data after the response/,
  );
  assert.equal(seen.body, 'ok');
  assert.deepEqual(seen.ends, [true]);
  assert.throws(() => p.push(Buffer.from('x')), /data after the response/);
});

test('a connection that ends before the response did is an error; between responses it is not', () => {
  for (const partial of ['', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab']) {
    const { p } = parser();
    if (partial) p.push(Buffer.from(partial));
    assert.throws(() => p.eof(), /closed before the response ended/);
  }
  const { p } = parser();
  p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  p.eof();
  assert.ok(p.idle);
});

test('one parser reads the responses of one connection in turn', () => {
  const { p, seen } = parser();
  p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na'));
  p.expect('POST');
  p.push(Buffer.from('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n'));
  assert.equal(seen.status, 404);
  assert.equal(seen.body, 'ab');
  assert.deepEqual(seen.ends, [true, true]);
});

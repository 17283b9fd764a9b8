/**
 * A strict HTTP/1.1 response parser (RFC 9112) for the gateway's own HTTP client (./pool.ts):
 * fed the bytes of one connection, it reports each response's status and headers, its body as slices
 * of what arrived (no copy; chunked framing removed) and its end. Pure: no sockets, no timers.
 *
 * Strict where a lenient reading could let an upstream smuggle a second answer into a connection or
 * grow our memory: the head is bounded (64 KiB, trailers too), a line ends with CRLF, header names
 * are tokens and values visible characters (no CR, LF or NUL; no obs-fold), Content-Length is digits
 * (repeats must agree), Transfer-Encoding is `chunked` alone, both together are refused, chunk sizes
 * are hex within 2^53, and a chunk's data ends with CRLF. A response with neither length is read to
 * the connection's close. Informational (1xx) heads are skipped; 101 is refused (we never upgrade).
 * Every violation throws `HttpParseError`, and the connection is then closed, never reused.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type ResponseHeaders = IncomingHttpHeaders & Record<string, string | string[] | undefined>;

export class HttpParseError extends Error {
  constructor(what: string) {
    super(`malformed http response: ${what}`);
    this.name = 'HttpParseError';
  }
}

export interface ResponseEvents {
  /** The final status and headers (names lowercased; a repeated header is an array). */
  head(status: number, headers: ResponseHeaders): void;
  /** A piece of the body: a view of the bytes pushed, valid as long as the caller keeps them. */
  data(chunk: Buffer): void;
  /** The body ended. `reusable`: the connection may carry another request. */
  end(reusable: boolean): void;
}

/** Largest head (status line and headers), and largest trailer section. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Largest chunk-size line, extensions included. */
const MAX_SIZE_LINE = 4096;

/** A header name (RFC 9110 token), in responses read and requests sent alike. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value: visible characters, space and tab; no CR, LF, NUL or other control character. */
export const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Headers the client writes itself (framing, connection management), and those that describe the body
 * it writes as it is (never encoded, never with trailers): a request that sets one is refused.
 */
export const CLIENT_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'content-encoding',
  'trailer',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'expect',
]);
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const DIGITS = /^\d{1,16}$/;
const HEX = /^[0-9A-Fa-f]{1,13}$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/** Where the parser is in a response. */
const State = {
  Idle: 0,
  Head: 1,
  Length: 2,
  ChunkSize: 3,
  ChunkData: 4,
  ChunkEnd: 5,
  Trailers: 6,
  UntilClose: 7,
  Done: 8,
} as const;
type State = (typeof State)[keyof typeof State];

export class ResponseParser {
  readonly #on: ResponseEvents;
  #state: State = State.Idle;
  /** Bytes of a head, size line or trailer section that arrived in earlier pieces, their count and last bytes. */
  #parts: Buffer[] = [];
  #kept = 0;
  #tail: Buffer = EMPTY;
  /** Body bytes (Length) or chunk bytes (ChunkData) still to come; CR/LF still expected (ChunkEnd). */
  #left = 0;
  #noBody = false;
  #keepAlive = true;

  constructor(on: ResponseEvents) {
    this.#on = on;
  }

  /** True between responses: nothing is expected, and any byte that arrives is an error. */
  get idle(): boolean {
    return this.#state === State.Idle || this.#state === State.Done;
  }

  /** Expects the response to a request just sent (`HEAD` has no body, whatever its headers say). */
  expect(method: string): void {
    this.#state = State.Head;
    this.#forget();
    this.#noBody = method === 'HEAD';
    this.#keepAlive = true;
  }

  /** Takes the next bytes of the connection. Throws HttpParseError on anything malformed. */
  push(buf: Buffer): void {
    let at = 0;
    while (at < buf.length) {
      switch (this.#state) {
        case State.Idle:
        case State.Done:
          throw new HttpParseError('data after the response');
        case State.Head:
          at = this.#headBytes(buf, at);
          break;
        case State.Length: {
          const piece = this.#take(buf, at);
          at += piece.length;
          this.#on.data(piece);
          if (this.#left === 0) this.#finish();
          break;
        }
        case State.ChunkSize:
          at = this.#sizeLine(buf, at);
          break;
        case State.ChunkData: {
          const piece = this.#take(buf, at);
          at += piece.length;
          if (this.#left === 0) {
            this.#state = State.ChunkEnd;
            this.#left = 2;
          }
          this.#on.data(piece);
          break;
        }
        case State.ChunkEnd:
          if (buf[at] !== (this.#left === 2 ? 13 : 10)) throw new HttpParseError('chunk not followed by CRLF');
          at++;
          if (--this.#left === 0) this.#state = State.ChunkSize;
          break;
        case State.Trailers:
          at = this.#trailerBytes(buf, at);
          break;
        case State.UntilClose: {
          this.#on.data(at === 0 ? buf : buf.subarray(at));
          return;
        }
      }
    }
  }

  /** The next body bytes from `at`, at most the `#left` still due (counted off). */
  #take(buf: Buffer, at: number): Buffer {
    const piece = buf.subarray(at, at + Math.min(this.#left, buf.length - at));
    this.#left -= piece.length;
    return piece;
  }

  /** The connection ended (the peer closed it). Throws unless that is where the body ends. */
  eof(): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done;
      this.#on.end(false);
      return;
    }
    if (!this.idle) throw new HttpParseError('connection closed before the response ended');
  }

  /** The response ended. Bytes after it (push goes on with the rest of its piece) throw: never a second answer. */
  #finish(): void {
    this.#state = State.Done;
    this.#forget();
    this.#on.end(this.#keepAlive);
  }

  /** Collects a head up to its blank line; returns where the bytes after it start. */
  #headBytes(buf: Buffer, at: number): number {
    const { text, next } = this.#upTo(buf, at, CRLFCRLF, MAX_HEAD_BYTES, 'head');
    if (text === undefined) return next;
    this.#head(text);
    return next;
  }

  /**
   * The bytes before `mark` (latin1), joined with the pieces kept from earlier calls; `text` is
   * undefined while `mark` has not arrived (the bytes are kept, at most `max` of them). Each byte is
   * searched once, whatever the pieces: a mark split across pieces is found through the last bytes
   * kept (`#tail`).
   */
  #upTo(buf: Buffer, at: number, mark: Buffer, max: number, what: string): { text?: string; next: number } {
    if (this.#kept === 0) {
      const hit = buf.indexOf(mark, at);
      if (hit >= 0) {
        if (hit - at > max) throw new HttpParseError(`${what} larger than ${max} bytes`);
        return { text: buf.toString('latin1', at, hit), next: hit + mark.length };
      }
      this.#keep(buf.subarray(at), max, what);
      return { next: buf.length };
    }
    const piece = buf.subarray(at);
    const probe = Buffer.concat([this.#tail, piece]);
    const j = probe.indexOf(mark);
    if (j < 0) {
      this.#keep(piece, max, what);
      return { next: buf.length };
    }
    const ends = this.#kept - this.#tail.length + j; // where the mark starts, counted from the first kept byte
    if (ends > max) throw new HttpParseError(`${what} larger than ${max} bytes`);
    const text = Buffer.concat([...this.#parts, piece]).toString('latin1', 0, ends);
    this.#forget();
    return { text, next: at + j - (probe.length - piece.length) + mark.length };
  }

  /** Keeps a piece that holds no mark (a copy: the caller may reuse its buffer). */
  #keep(piece: Buffer, max: number, what: string): void {
    this.#kept += piece.length;
    if (this.#kept > max) throw new HttpParseError(`${what} larger than ${max} bytes`);
    const copy = Buffer.from(piece);
    this.#parts.push(copy);
    const joined = copy.length >= 3 ? copy : Buffer.concat([this.#tail, copy]);
    this.#tail = joined.subarray(Math.max(0, joined.length - 3));
  }

  #forget(): void {
    this.#parts = [];
    this.#kept = 0;
    this.#tail = EMPTY;
  }

  #head(text: string): void {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0] ?? '');
    if (!m) throw new HttpParseError('status line');
    const status = Number(m[2]);
    const headers = headerFields(lines, 'header');
    if (status < 200) {
      if (status === 101) throw new HttpParseError('switching protocols was not asked for');
      this.#state = State.Head; // informational: the final head follows
      return;
    }
    const connection = listOf(headers.connection);
    this.#keepAlive = m[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    const framing = this.#noBody || status === 204 || status === 304 ? NO_BODY : framingOf(headers);
    this.#on.head(status, headers); // only once the framing is known to be sound
    if (framing === NO_BODY || framing === 0) {
      this.#finish();
    } else if (framing === CHUNKED) {
      this.#state = State.ChunkSize;
    } else if (framing === UNTIL_CLOSE) {
      this.#keepAlive = false;
      this.#state = State.UntilClose;
    } else {
      this.#left = framing;
      this.#state = State.Length;
    }
  }

  #sizeLine(buf: Buffer, at: number): number {
    const { text, next } = this.#upTo(buf, at, CRLF, MAX_SIZE_LINE, 'chunk size line');
    if (text === undefined) return next;
    const semi = text.indexOf(';');
    const hex = (semi < 0 ? text : text.slice(0, semi)).trimEnd();
    if (!HEX.test(hex)) throw new HttpParseError('chunk size');
    const size = Number.parseInt(hex, 16);
    if (size === 0) {
      // The size line's CRLF starts the search for the blank line: no trailers is CRLF CRLF too.
      this.#state = State.Trailers;
      this.#parts = [CRLF];
      this.#kept = 2;
      this.#tail = CRLF;
      return next;
    }
    this.#left = size;
    this.#state = State.ChunkData;
    return next;
  }

  /** The trailer section: fields (checked, then dropped) up to a blank line. */
  #trailerBytes(buf: Buffer, at: number): number {
    if (this.#kept === 2 && this.#parts[0] === CRLF && buf[at] === 13 && buf[at + 1] === 10) {
      this.#finish(); // the common case: no trailers, the blank line whole in this piece
      return at + 2;
    }
    const { text, next } = this.#upTo(buf, at, CRLFCRLF, MAX_HEAD_BYTES, 'trailer section');
    if (text === undefined) return next;
    headerFields(text.split('\r\n'), 'trailer');
    this.#finish();
    return next;
  }
}

/** The fields of lines[1..], checked: names lowercased, repeats as arrays. */
function headerFields(lines: string[], what: string): ResponseHeaders {
  const headers: ResponseHeaders = Object.create(null);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line[0] === ' ' || line[0] === '\t') throw new HttpParseError(`${what} line folded (obs-fold)`);
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpParseError(`${what} line without a name`);
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpParseError(`${what} name`);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) throw new HttpParseError(`${what} value`);
    const key = name.toLowerCase();
    const had = headers[key];
    if (had === undefined) headers[key] = value;
    else if (Array.isArray(had)) had.push(value);
    else headers[key] = [had, value];
  }
  return headers;
}

const NO_BODY = -1;
const CHUNKED = -2;
const UNTIL_CLOSE = -3;

/** How a body with these headers is delimited: its length, CHUNKED or UNTIL_CLOSE; throws on anything ambiguous. */
function framingOf(headers: ResponseHeaders): number {
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined) {
    if (cl !== undefined) throw new HttpParseError('both transfer-encoding and content-length');
    if (listOf(te).join(',') !== 'chunked') throw new HttpParseError('transfer-encoding other than chunked');
    return CHUNKED;
  }
  return cl === undefined ? UNTIL_CLOSE : contentLength(cl);
}

/** A comma-separated header's tokens, lowercased, across repeats. */
function listOf(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const all = Array.isArray(v) ? v.join(',') : v;
  return all
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** Content-Length: digits; repeats (or a list) must all say the same. */
function contentLength(v: string | string[]): number {
  const values = (Array.isArray(v) ? v.join(',') : v).split(',').map((t) => t.trim());
  const first = values[0] as string;
  if (!DIGITS.test(first) || values.some((x) => x !== first)) throw new HttpParseError('content-length');
  const n = Number(first);
  if (!Number.isSafeInteger(n)) throw new HttpParseError('content-length');
  return n;
}

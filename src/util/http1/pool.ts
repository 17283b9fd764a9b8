/**
 * The gateway's HTTP/1.1 client (upstreams, the audit trail's HTTP sink): keep-alive connections to one origin (http or https),
 * at most `connections` of them, requests beyond that waiting in order. One request per connection
 * at a time (no pipelining). Responses are read by ./parser.ts and handed to a handler as they
 * arrive: status and headers, body pieces, end or error (./exchange.ts wraps an exchange in a promise).
 * ADR 0014 says why this is not undici: what
 * MCP needs of HTTP is this much, and undici's dispatcher, its WebAssembly parser and that parser's
 * tier-up cost about 40 µs per exchange, 20 MB of idle RSS and a background compile during start.
 *
 * What it refuses to send: a header name that is not a token, a value with a control character
 * (CR, LF, NUL: no header injection) or a character past U+00FF, a header the client owns (host,
 * content-length, transfer-encoding, connection, keep-alive, upgrade, te, expect), a path that is
 * not absolute or holds a space or control character.
 *
 * Connections: an idle connection is reused last-in first-out and closed 2 s before the idle time
 * the server announced (`Keep-Alive: timeout=N`), after 4 s when it announced none (servers commonly
 * close idle connections after 5 s without saying so), and never later than `keepAliveMs`: we close
 * it before the server does, so a request does not go out on a connection the server is closing. A request is never retried (a POST of a tool call could run twice). Bytes from the
 * server while no request is out, a response that does not parse, data after a response and
 * `Connection: close` close the connection. A connection whose request was cancelled is closed.
 * Timeouts (`headersTimeout`, `bodyTimeout`: the longest wait for the head, and between body bytes)
 * are checked by one sweep per second per pool, not a timer per request.
 */
import net from 'node:net';
import { lazyRequire } from '../lazy.ts';
import { CLIENT_HEADERS, FIELD_VALUE, HttpParseError, ResponseParser, type ResponseHeaders, TOKEN } from './parser.ts';

export type { ResponseHeaders } from './parser.ts';

/** TLS loads with the first https upstream (in a bare process, about 7 MB). */
const tls = lazyRequire<typeof import('node:tls')>('node:tls');

export interface RequestOptions {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Longest wait, in ms, for the response's head once the request is out (0: none). */
  headersTimeout?: number;
  /** Longest wait, in ms, between two pieces of the body (0: none). */
  bodyTimeout?: number;
}

/** Callbacks of one exchange, in order: head, data (any number), then end or error; nothing after cancel. */
export interface ResponseHandler {
  head(status: number, headers: ResponseHeaders): void;
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

/** Stops an exchange: no callback follows; if its request is out, its connection is closed. */
export type Cancel = () => void;

class HttpClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpClientError';
  }
}

const PATH = /^\/[\x21-\x7e]*$/;
/** A head with one of these goes out as latin1 bytes; without, as the ASCII it is, in one write with the body. */
const LATIN1_HIGH = /[\x80-\xff]/;
/** Close an idle connection this long before the idle time its server announced. */
const KEEP_ALIVE_MARGIN_MS = 2000;
/** Idle time of a connection whose server announced none. */
const UNANNOUNCED_IDLE_MS = 4000;
const SWEEP_MS = 1000;

interface Exchange {
  /** The request's head (latin1 characters only) and body. */
  readonly head: string;
  readonly body: string | undefined;
  readonly method: string;
  readonly handler: ResponseHandler;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  conn: Connection | undefined;
  headed: boolean;
  done: boolean;
}

interface Connection {
  readonly socket: net.Socket;
  readonly parser: ResponseParser;
  ex: Exchange | undefined;
  /** The response just ended, and whether the connection may carry another request. */
  ended: boolean;
  reusable: boolean;
  /** Idle time allowed for this connection (the server's announced one may lower it). */
  keepAliveMs: number;
  /** When the last byte arrived or the last request went out (or when it went idle). */
  at: number;
  dead: boolean;
}

export class OriginPool {
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #hostHeader: string;
  readonly #max: number;
  readonly #keepAliveMs: number;
  readonly #all = new Set<Connection>();
  readonly #idle: Connection[] = [];
  readonly #queue: Exchange[] = [];
  #sweeper: NodeJS.Timeout | undefined;
  #destroyed = false;

  constructor(origin: string, opts: { connections: number; keepAliveMs: number }) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new HttpClientError(`unsupported protocol ${url.protocol}`);
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = Number(url.port) || (this.#secure ? 443 : 80);
    this.#hostHeader = url.host;
    this.#max = opts.connections;
    this.#keepAliveMs = opts.keepAliveMs;
  }

  /**
   * Sends one request; the handler hears its response. Throws (nothing sent) on a header or path
   * this client refuses, or once the pool is destroyed.
   */
  dispatch(req: RequestOptions, handler: ResponseHandler): Cancel {
    if (this.#destroyed) throw new HttpClientError('connection pool closed');
    const ex: Exchange = {
      head: this.#requestHead(req),
      body: req.body,
      method: req.method,
      handler,
      headersTimeout: req.headersTimeout ?? 0,
      bodyTimeout: req.bodyTimeout ?? 0,
      conn: undefined,
      headed: false,
      done: false,
    };
    const conn = this.#free();
    if (conn) this.#start(conn, ex);
    else this.#queue.push(ex);
    return () => this.#cancel(ex);
  }

  /** Closes every connection; requests out or waiting end with an error. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const err = new HttpClientError('connection pool closed');
    for (const ex of this.#queue.splice(0)) this.#fail(ex, err);
    for (const conn of [...this.#all]) this.#kill(conn, err);
  }

  #requestHead(req: RequestOptions): string {
    if (!PATH.test(req.path)) throw new HttpClientError('invalid request path');
    let text = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\n`;
    for (const name in req.headers) {
      const value = req.headers[name] as string;
      if (!TOKEN.test(name)) throw new HttpClientError(`invalid header name \`${name.slice(0, 64)}\``);
      if (CLIENT_HEADERS.has(name.toLowerCase())) throw new HttpClientError(`header \`${name}\` is set by the client`);
      if (!FIELD_VALUE.test(value)) throw new HttpClientError(`invalid value of header \`${name}\``);
      text += `${name}: ${value}\r\n`;
    }
    if (req.body !== undefined) text += `content-length: ${Buffer.byteLength(req.body)}\r\n`;
    return `${text}\r\n`;
  }

  /** An idle connection, or a new one while under the limit. */
  #free(): Connection | undefined {
    const idle = this.#idle.pop();
    if (idle) return idle;
    return this.#all.size < this.#max ? this.#open() : undefined;
  }

  #open(): Connection {
    const socket = this.#secure
      ? tls().connect({
          host: this.#host,
          port: this.#port,
          servername: net.isIP(this.#host) ? undefined : this.#host,
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    // The parser's callbacks reach the connection it belongs to; no byte arrives before it exists.
    let conn: Connection;
    const parser = new ResponseParser({
      head: (status, headers) => this.#head(conn, status, headers),
      data: (chunk) => {
        const ex = conn.ex;
        if (ex && !ex.done) ex.handler.data(chunk);
      },
      end: (reusable) => {
        conn.ended = true;
        conn.reusable = reusable;
        const ex = conn.ex;
        if (ex && !ex.done) {
          ex.done = true;
          ex.handler.end();
        }
      },
    });
    conn = {
      socket,
      parser,
      ex: undefined,
      ended: false,
      reusable: false,
      keepAliveMs: Math.min(this.#keepAliveMs, UNANNOUNCED_IDLE_MS),
      at: Date.now(),
      dead: false,
    };
    socket.on('data', (chunk: Buffer) => this.#data(conn, chunk));
    socket.on('end', () => this.#eof(conn));
    socket.on('error', (err) => this.#kill(conn, err));
    socket.on('close', () => this.#kill(conn, new HttpClientError('the server closed the connection')));
    this.#all.add(conn);
    this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    return conn;
  }

  #start(conn: Connection, ex: Exchange): void {
    conn.ex = ex;
    conn.ended = false;
    conn.at = Date.now();
    ex.conn = conn;
    conn.parser.expect(ex.method);
    const socket = conn.socket;
    if (!LATIN1_HIGH.test(ex.head)) socket.write(ex.body === undefined ? ex.head : ex.head + ex.body);
    else {
      socket.cork();
      socket.write(ex.head, 'latin1');
      if (ex.body !== undefined) socket.write(ex.body);
      socket.uncork();
    }
  }

  #head(conn: Connection, status: number, headers: ResponseHeaders): void {
    const hint = /(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(String(headers['keep-alive'] ?? ''));
    if (hint) conn.keepAliveMs = Math.min(this.#keepAliveMs, Number(hint[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
    const ex = conn.ex;
    if (!ex || ex.done) return;
    ex.headed = true;
    ex.handler.head(status, headers);
  }

  #data(conn: Connection, chunk: Buffer): void {
    conn.at = Date.now();
    try {
      if (!conn.ex) throw new HttpParseError('data while no request was out');
      conn.parser.push(chunk);
    } catch (err) {
      this.#kill(conn, err as Error);
      return;
    }
    if (!conn.ended || conn.dead) return;
    conn.ex = undefined;
    conn.ended = false;
    if (conn.reusable && conn.keepAliveMs > 0 && !this.#destroyed) this.#release(conn);
    else this.#kill(conn, new HttpClientError('the server closed the connection'));
  }

  #eof(conn: Connection): void {
    try {
      conn.parser.eof();
    } catch (err) {
      this.#kill(conn, err as Error);
      return;
    }
    this.#kill(conn, new HttpClientError('the server closed the connection'));
  }

  /** A connection free again: the next waiting request, or the idle stack. */
  #release(conn: Connection): void {
    const next = this.#queue.shift();
    if (next) {
      this.#start(conn, next);
      return;
    }
    conn.at = Date.now();
    this.#idle.push(conn);
  }

  /** Closes a connection (once); its exchange, if not yet over, ends with `err`. */
  #kill(conn: Connection, err: Error): void {
    if (conn.dead) return;
    conn.dead = true;
    this.#all.delete(conn);
    const idle = this.#idle.indexOf(conn);
    if (idle >= 0) this.#idle.splice(idle, 1);
    conn.socket.destroy();
    const ex = conn.ex;
    conn.ex = undefined;
    if (ex) this.#fail(ex, err);
    if (this.#all.size === 0 && this.#sweeper) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
    this.#pump();
  }

  /** Waiting requests take the room a closed connection left. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#destroyed && this.#all.size < this.#max) {
      this.#start(this.#open(), this.#queue.shift() as Exchange);
    }
  }

  #fail(ex: Exchange, err: Error): void {
    if (ex.done) return;
    ex.done = true;
    ex.handler.error(err);
  }

  #cancel(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    const conn = ex.conn;
    if (!conn) {
      const i = this.#queue.indexOf(ex);
      if (i >= 0) this.#queue.splice(i, 1);
      return;
    }
    if (conn.ex === ex) this.#kill(conn, new HttpClientError('request cancelled'));
  }

  /** Closes connections idle too long, and fails requests whose server has been silent too long. */
  #sweep(): void {
    const now = Date.now();
    for (const conn of [...this.#all]) {
      const ex = conn.ex;
      if (!ex) {
        if (now - conn.at >= conn.keepAliveMs) this.#kill(conn, new HttpClientError('idle'));
        continue;
      }
      const limit = ex.headed ? ex.bodyTimeout : ex.headersTimeout;
      if (limit > 0 && now - conn.at >= limit)
        this.#kill(
          conn,
          new HttpClientError(
            ex.headed ? 'the response stalled (body timeout)' : 'no response head in time (headers timeout)',
          ),
        );
    }
  }
}

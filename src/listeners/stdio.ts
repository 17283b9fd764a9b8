/**
 * `gatehouse stdio`: one client over stdin/stdout (desktop clients that launch a command), both
 * eras: `initialize` starts a legacy session held in memory; requests carrying the 2026-07-28
 * `_meta` are handled statelessly. Same dispatch and pipeline as HTTP; the caller is the local user.
 */
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { GatehouseError } from '../protocol/errors.ts';
import {
  classify,
  idKey,
  success,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import { META, declaredVersion, isModernVersion, requestedLogLevel } from '../protocol/era.ts';
import { parseStrictJson } from '../protocol/strict-json.ts';
import { toWire } from '../protocol/wire.ts';
import { modernResult } from '../protocol/modern-result.ts';
import { callerCancelled } from '../protocol/cancel-reason.ts';
import { dispatch, initializeResult, readInitialize, serverInfoOn } from '../pipeline/dispatch.ts';
import type { RequestContext } from '../gateway/context.ts';
import { LOCAL_SUBJECT, type Principal } from '../identity/principal.ts';
import { LiveSession, type MessageSink } from '../sessions/sessions.ts';
import type { EndpointDeps } from './mcp-endpoint.ts';
import { TransientMap } from '../util/transient-map.ts';
import { ListChangedGate } from './list-changed-gate.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const LOCAL_USER: Principal = {
  subject: LOCAL_SUBJECT,
  tenant: 'default',
  client: 'stdio',
  roles: [],
  scopes: [],
  authenticated: false,
  via: 'local',
  issuer: '',
  key: 'local',
};

/**
 * Requests of the client handled at once. None starts while stdout holds more than its buffer (the
 * client is not reading its answers). Requests read and not started wait, up to MAX_WAITING of them
 * or MAX_WAITING_BYTES; past either the gateway stops reading stdin, so the client's writes wait in
 * the pipe and the gateway's memory stays bounded whatever the client sends. Answers and
 * notifications from the client never wait: an elicitation's answer or a cancellation reaches the
 * request in flight that waits for it.
 */
const MAX_IN_FLIGHT = 64;
const MAX_WAITING = 256;
const MAX_WAITING_BYTES = 1024 * 1024;

export function serveStdio(
  input: Readable,
  output: Writable,
  scope: string,
  deps: () => EndpointDeps,
  opts: { maxInFlight?: number } = {},
): Promise<void> {
  let ended = false;
  // After every chunk read and whenever the client has room again: read on, or wait.
  const flow = () => {
    if (ended) return;
    if (client.wantsInput) input.resume();
    else input.pause();
  };
  const client = new StdioClient(output, scope, deps, opts.maxInFlight ?? MAX_IN_FLIGHT, flow);
  return new Promise((resolve) => {
    // Lines are cut on bytes and decoded whole and strictly: a line that is not UTF-8 is a parse
    // error, never decoded with U+FFFD and executed as something the client did not send.
    splitLines(
      input,
      () => deps().maxBodyBytes,
      (bytes) => client.line(bytes),
      () => client.send(toWire(new GatehouseError('E_BODY_TOO_LARGE'), null).body),
      flow,
    );
    // stdout can no longer be written (the client went away): what is in flight is cancelled, and
    // what it sent and was not started is dropped with it.
    const end = () => {
      if (ended) return;
      ended = true;
      client.close();
      resolve();
    };
    // The client closed stdin (how MCP's stdio transport begins a shutdown): nothing more comes, and
    // no question of ours can be answered any more; what it sent is still handled and answered, as
    // an SDK server does (a script's `printf ... | gatehouse stdio` gets its answers), then the session ends.
    input.on('end', () => client.endInput(end));
    output.on('error', end);
    output.on('close', end);
  });
}

/**
 * Cut `input` into lines on newline bytes and hand each line's bytes to `onLine`, then call
 * `afterChunk`. A line longer than `max()` bytes is refused whole, and `onTooLong` told once: the
 * bytes read so far are dropped and so is everything after them up to its newline. Dropping only
 * what was read would make the rest of that line a line of its own, executed as a request the
 * client never sent as one (a 4 MiB padding, then `{..."method":"tools/call"...}\n`).
 */
function splitLines(
  input: Readable,
  max: () => number,
  onLine: (bytes: Buffer) => void,
  onTooLong: () => void,
  afterChunk: () => void,
): void {
  let parts: Buffer[] = [];
  let size = 0;
  /** The line being read was refused: what comes up to its newline is dropped unread. */
  let dropping = false;
  input.on('data', (chunk: Buffer | string) => {
    let b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a)) {
      const piece = b.subarray(0, i);
      b = b.subarray(i + 1);
      if (dropping) {
        dropping = false;
        continue;
      }
      // Checked on the whole line too: one that arrives with its newline in the same read is no smaller.
      const tooLong = size + piece.length > max();
      const whole = tooLong || !parts.length ? piece : Buffer.concat([...parts, piece]);
      parts = [];
      size = 0;
      if (tooLong) onTooLong();
      else onLine(whole);
    }
    if (b.length && !dropping) {
      if (size + b.length > max()) {
        parts = [];
        size = 0;
        dropping = true;
        onTooLong();
      } else {
        parts.push(b);
        size += b.length;
      }
    }
    afterChunk();
  });
}

/** One client on stdin/stdout: its legacy session once it sends `initialize`, and its requests in flight. */
class StdioClient {
  readonly #out: MessageSink;
  readonly #scope: string;
  readonly #deps: () => EndpointDeps;
  /** Requests in flight by `idKey` of their id (an id above 2^53 stays exact). */
  readonly #inFlight = new TransientMap<string, AbortController>();
  #session: LiveSession | undefined;
  /** When the client hears of list changes (list-changed-gate.ts): its notifications/initialized may come before its initialize starts. */
  readonly #gate = new ListChangedGate();
  #detach: (() => void) | undefined;

  readonly #maxInFlight: number;
  /** Told when more of stdin may be wanted again (a request finished or was dropped, stdout drained). */
  readonly #onRoom: () => void;
  /** stdout holds more than its buffer: no request starts until it drains. */
  #blocked = false;
  /** Requests being handled. */
  #busy = 0;
  /** Requests read and waiting for a slot, and their lines' bytes. */
  #waiting: Array<{ req: JsonRpcRequest; bytes: number }> = [];
  #waitingBytes = 0;
  #closed = false;
  /** stdin has ended; told once nothing is in flight or waiting. */
  #onDrained: (() => void) | undefined;

  constructor(output: Writable, scope: string, deps: () => EndpointDeps, maxInFlight: number, onRoom: () => void) {
    this.#out = {
      send: (m: JsonRpcMessage) => {
        if (output.write(`${JSON.stringify(m)}\n`) || this.#blocked) return;
        this.#blocked = true;
        output.once('drain', () => {
          this.#blocked = false;
          this.#room();
        });
      },
      closed: false,
      close: () => {},
    };
    this.#scope = scope;
    this.#deps = deps;
    this.#maxInFlight = maxInFlight;
    this.#onRoom = onRoom;
  }

  /**
   * Whether more of stdin should be read now: while few requests wait for a slot. Read on while stdout
   * is backed up too (nothing starts meanwhile): the client's answers and cancellations get through.
   */
  get wantsInput(): boolean {
    return !this.#closed && this.#waiting.length < MAX_WAITING && this.#waitingBytes < MAX_WAITING_BYTES;
  }

  send(m: JsonRpcMessage): void {
    this.#out.send(m);
  }

  /**
   * One line's bytes, decoded strictly and parsed. An answer, a notification, a blank line or one that
   * is no request is dealt with now; a request starts when there is room (MAX_IN_FLIGHT, stdout not
   * backed up) and waits for it otherwise.
   */
  line(bytes: Buffer): void {
    const req = this.#take(bytes);
    if (!req) return;
    this.#waiting.push({ req, bytes: bytes.length });
    this.#waitingBytes += bytes.length;
    this.#startWaiting();
  }

  #take(bytes: Buffer): JsonRpcRequest | undefined {
    let id: RequestId | null = null;
    let answerOfTheClient = false;
    try {
      let text: string;
      try {
        text = UTF8.decode(bytes).trim();
      } catch {
        throw new GatehouseError('E_PARSE', 'parse error: line is not valid utf-8');
      }
      if (!text) return undefined;
      const parsed = parseStrictJson(text, this.#deps().maxJsonDepth);
      if (Array.isArray(parsed)) throw new GatehouseError('E_BATCH');
      const c = classify(parsed);
      if (c.kind === 'invalid') {
        id = c.id;
        // Shaped as an answer (no method): not answered without its id, or two peers could answer each other.
        const o = parsed as Record<string, unknown> | null;
        answerOfTheClient = typeof o === 'object' && o !== null && !('method' in o) && ('result' in o || 'error' in o);
        throw new GatehouseError('E_INVALID_REQUEST', `invalid request: ${c.reason}`);
      }
      if (c.kind === 'response') {
        if (c.msg.id !== null)
          this.#session?.answer(c.msg.id, 'error' in c.msg ? { error: c.msg.error } : { result: c.msg.result });
        return undefined;
      }
      if (c.kind === 'notification') {
        if (c.msg.method === 'notifications/cancelled')
          this.#cancel(idKey(c.msg.params?.requestId), c.msg.params?.reason);
        else if (c.msg.method === 'notifications/initialized') this.#gate.initialized();
        return undefined;
      }
      return c.msg;
    } catch (err) {
      // JSON-RPC 2.0: an invalid request is answered, with id null when its id cannot be read (a number
      // id like 1.5 or 1e3), as over HTTP; before, such a line went unanswered.
      if (id !== null || !answerOfTheClient) this.send(toWire(err, id, this.#deps().log).body);
      return undefined;
    }
  }

  /** A cancelled request: aborted when in flight, dropped unanswered when still waiting. */
  #cancel(key: string, reason: unknown): void {
    this.#inFlight.get(key)?.abort(callerCancelled(reason, this.#deps().credentials.scrubber));
    const kept = this.#waiting.filter((w) => idKey(w.req.id) !== key);
    if (kept.length === this.#waiting.length) return;
    this.#waiting = kept;
    this.#waitingBytes = kept.reduce((n, w) => n + w.bytes, 0);
    this.#onRoom();
  }

  /** Start waiting requests while there is room. */
  #startWaiting(): void {
    while (this.#waiting.length && !this.#blocked && this.#busy < this.#maxInFlight && !this.#closed) {
      const w = this.#waiting.shift() as { req: JsonRpcRequest; bytes: number };
      this.#waitingBytes -= w.bytes;
      // Counted per request, not per id: ids may repeat, the requests in progress are what cost.
      this.#busy++;
      void this.#request(w.req)
        .catch((err) => this.send(toWire(err, w.req.id, this.#deps().log).body))
        .finally(() => {
          this.#busy--;
          this.#room();
        });
    }
  }

  /** A request finished or stdout drained: start what waits, and tell the reader. */
  #room(): void {
    this.#startWaiting();
    this.#onRoom();
    this.#drained();
  }

  /**
   * stdin has ended: the session is closed, so questions waiting for the client's answer, and later
   * ones at once, are answered with an error; `onDrained` once every request read has been answered.
   */
  endInput(onDrained: () => void): void {
    this.#onDrained = onDrained;
    this.#session?.close('the client closed its input');
    this.#drained();
  }

  #drained(): void {
    if (this.#onDrained && this.#busy === 0 && this.#waiting.length === 0) this.#onDrained();
  }

  /** The session ends (stdout gone, or stdin ended and all answered): drop what waits, cancel what is in flight, leave the fan-out. */
  close(): void {
    this.#closed = true;
    this.#waiting = [];
    this.#waitingBytes = 0;
    for (const a of this.#inFlight.values()) a.abort();
    this.#detach?.();
  }

  async #request(req: JsonRpcRequest): Promise<void> {
    if (req.method === 'initialize') {
      // The session is in place at once (a script may send its calls before the answer comes); what it
      // declares depends on the servers' capabilities (tasks): known once they are catalogued (bounded).
      const version = this.#initialize(req);
      await this.#deps().catalogued?.();
      this.send(success(req.id, initializeResult(this.#deps(), this.#scope, version)));
      return;
    }
    const declared = declaredVersion(req.params);
    const modern = declared !== undefined || req.method === 'server/discover';
    if (modern && declared !== undefined && !isModernVersion(declared)) throw new GatehouseError('E_PROTOCOL_VERSION');
    let session: LiveSession | undefined;
    if (!modern) {
      session = this.#session;
      if (!session) throw new GatehouseError('E_NOT_INITIALIZED');
      this.#gate.asked(req.method);
    }
    const abort = new AbortController();
    this.#inFlight.set(idKey(req.id), abort);
    const ctx = this.#context(req, abort.signal, session, declared);
    try {
      let result = await dispatch(ctx, req.method, req.params, this.#deps());
      if (modern) result = modernResult(req.method, result, serverInfoOn(this.#deps(), this.#scope));
      this.send(success(req.id, result));
    } finally {
      this.#inFlight.delete(idKey(req.id));
    }
  }

  /** A new session for this client, in place at once: the protocol version its answer gives. */
  #initialize(req: JsonRpcRequest): string {
    return initialize(req, this.#scope, (s) => {
      this.#detach?.();
      this.#session = s;
      // list_changed (once the client may hear it: the gate) and resource updates are written to stdout like everything else
      s.stream = this.#gate.sink(this.#out);
      s.streamOwner = LOCAL_USER;
      this.#detach = this.#deps().sessions.attachLocal(s);
    });
  }

  /** A request's context: stateless from its `_meta` (modern), or from the session it belongs to (legacy). */
  #context(
    req: JsonRpcRequest,
    signal: AbortSignal,
    session: LiveSession | undefined,
    declared: string | undefined,
  ): RequestContext {
    const out = this.#out;
    const meta = (req.params?._meta ?? {}) as JsonObject;
    const token = meta.progressToken;
    const common = {
      scope: this.#scope,
      requestId: req.id,
      traceId: randomUUID(),
      principal: LOCAL_USER,
      signal,
      progressToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
    };
    if (!session) {
      return {
        ...common,
        era: 'modern',
        protocolVersion: declared ?? '2026-07-28',
        clientCapabilities: (meta[META.clientCapabilities] ?? {}) as JsonObject,
        clientInfo: (meta[META.clientInfo] ?? {}) as JsonObject,
        session: undefined,
        outlet: { notify: (n) => out.send(n), ask: undefined },
        logLevel: requestedLogLevel(meta),
      };
    }
    return {
      ...common,
      era: 'legacy',
      protocolVersion: session.record.protocolVersion,
      clientCapabilities: session.record.clientCapabilities as JsonObject,
      clientInfo: session.record.clientInfo as JsonObject,
      session,
      outlet: {
        notify: (n) => out.send(n),
        // Asked on the session current when the question is put (a later initialize replaces it);
        // once stdin has ended that session is closed, and answers every question at once.
        ask: (m, p, s) => (this.#session ?? session).ask(out, m, p, s),
      },
      logLevel: session.logLevel,
    };
  }
}

function initialize(req: JsonRpcRequest, scope: string, set: (s: LiveSession) => void): string {
  const init = readInitialize(req.params);
  const now = Date.now();
  set(
    new LiveSession({ id: `stdio-${randomUUID()}`, scope, ...init, principal: null, createdAt: now, lastSeenAt: now }),
  );
  return init.protocolVersion;
}

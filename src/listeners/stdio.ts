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
  success,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type RequestId,
} from '../protocol/jsonrpc.ts';
import { META, declaredVersion, isModernVersion } from '../protocol/era.ts';
import { parseStrictJson } from '../protocol/strict-json.ts';
import { toWire } from '../protocol/wire.ts';
import { dispatch, initializeResult, readInitialize } from '../pipeline/dispatch.ts';
import type { RequestContext } from '../gateway/context.ts';
import type { Principal } from '../identity/principal.ts';
import { LiveSession, type MessageSink } from '../sessions/sessions.ts';
import type { EndpointDeps } from './mcp-endpoint.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const LOCAL_USER: Principal = {
  subject: 'local',
  tenant: 'default',
  client: 'stdio',
  roles: [],
  scopes: [],
  authenticated: false,
  via: 'local',
  issuer: '',
  key: 'local',
};

export function serveStdio(input: Readable, output: Writable, scope: string, deps: () => EndpointDeps): Promise<void> {
  const out: MessageSink = {
    send: (m: JsonRpcMessage) => void output.write(`${JSON.stringify(m)}\n`),
    closed: false,
    close: () => {},
  };
  let session: LiveSession | undefined;
  let detach: (() => void) | undefined;
  const inFlight = new Map<RequestId, AbortController>();

  const handle = async (line: string): Promise<void> => {
    let id: RequestId | null = null;
    try {
      const parsed = parseStrictJson(line, deps().maxJsonDepth);
      if (Array.isArray(parsed)) throw new GatehouseError('E_BATCH');
      const c = classify(parsed);
      if (c.kind === 'invalid') {
        id = c.id;
        throw new GatehouseError('E_INVALID_REQUEST', `invalid request: ${c.reason}`);
      }
      if (c.kind === 'response') {
        if (c.msg.id !== null)
          session?.answer(c.msg.id, 'error' in c.msg ? { error: c.msg.error } : { result: c.msg.result });
        return;
      }
      if (c.kind === 'notification') {
        if (c.msg.method === 'notifications/cancelled') inFlight.get(c.msg.params?.requestId as RequestId)?.abort();
        return;
      }
      const req: JsonRpcRequest = c.msg;
      id = req.id;
      const declared = declaredVersion(req.params);
      const modern = req.method !== 'initialize' && (declared !== undefined || req.method === 'server/discover');
      if (req.method === 'initialize') {
        return out.send(
          success(
            req.id,
            initialize(req, scope, deps(), (s) => {
              detach?.();
              session = s;
              s.stream = out; // list_changed and resource updates are written to stdout like everything else
              detach = deps().sessions.attachLocal(s);
            }),
          ),
        );
      }
      if (modern && declared !== undefined && !isModernVersion(declared))
        throw new GatehouseError('E_PROTOCOL_VERSION');
      if (!modern && !session) throw new GatehouseError('E_NOT_INITIALIZED');
      const abort = new AbortController();
      inFlight.set(req.id, abort);
      const meta = (req.params?._meta ?? {}) as JsonObject;
      const token = meta.progressToken;
      const ctx: RequestContext = {
        era: modern ? 'modern' : 'legacy',
        protocolVersion: modern ? (declared ?? '2026-07-28') : session!.record.protocolVersion,
        scope,
        requestId: req.id,
        traceId: randomUUID(),
        principal: LOCAL_USER,
        clientCapabilities: (modern
          ? (meta[META.clientCapabilities] ?? {})
          : session!.record.clientCapabilities) as JsonObject,
        clientInfo: (modern ? (meta[META.clientInfo] ?? {}) : session!.record.clientInfo) as JsonObject,
        session: modern ? undefined : session,
        outlet: {
          notify: (n) => out.send(n),
          ask: modern ? undefined : (m, p, signal) => session!.ask(out, m, p, signal),
        },
        signal: abort.signal,
        progressToken: typeof token === 'string' || typeof token === 'number' ? token : undefined,
        logLevel: modern
          ? typeof meta[META.logLevel] === 'string'
            ? (meta[META.logLevel] as string)
            : undefined
          : session!.logLevel,
      };
      try {
        let result = await dispatch(ctx, req.method, req.params, deps());
        if (modern && result.resultType === undefined) result = { resultType: 'complete', ...result };
        out.send(success(req.id, result));
      } finally {
        inFlight.delete(req.id);
      }
    } catch (err) {
      if (id !== null || !(err instanceof GatehouseError) || err.code !== 'E_INVALID_REQUEST')
        out.send(toWire(err, id, deps().log).body);
    }
  };

  return new Promise((resolve) => {
    // Lines are cut on bytes and decoded whole and strictly: a line that is not UTF-8 is a parse
    // error, never decoded with U+FFFD and executed as something the client did not send.
    let parts: Buffer[] = [];
    let size = 0;
    const line = (bytes: Buffer) => {
      let text: string;
      try {
        text = UTF8.decode(bytes).trim();
      } catch {
        return out.send(toWire(new GatehouseError('E_PARSE', 'parse error: line is not valid utf-8'), null).body);
      }
      if (text) void handle(text);
    };
    input.on('data', (chunk: Buffer | string) => {
      let b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let i: number;
      while ((i = b.indexOf(0x0a)) >= 0) {
        const whole = parts.length ? Buffer.concat([...parts, b.subarray(0, i)]) : b.subarray(0, i);
        parts = [];
        size = 0;
        b = b.subarray(i + 1);
        line(whole);
      }
      if (b.length) {
        parts.push(b);
        size += b.length;
      }
      if (size > deps().maxBodyBytes) {
        parts = [];
        size = 0;
        out.send(toWire(new GatehouseError('E_BODY_TOO_LARGE'), null).body);
      }
    });
    input.on('end', () => {
      for (const a of inFlight.values()) a.abort();
      detach?.();
      resolve();
    });
  });
}

function initialize(req: JsonRpcRequest, scope: string, deps: EndpointDeps, set: (s: LiveSession) => void): JsonObject {
  const init = readInitialize(req.params);
  const now = Date.now();
  set(
    new LiveSession({ id: `stdio-${randomUUID()}`, scope, ...init, principal: null, createdAt: now, lastSeenAt: now }),
  );
  return initializeResult(deps, scope, init.protocolVersion);
}

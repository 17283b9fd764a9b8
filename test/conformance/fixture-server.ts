/**
 * Our conformance fixture: an MCP server (SDK v2) serving both protocol eras on one Streamable HTTP
 * endpoint, implementing what the official conformance suite's server scenarios expect.
 * 2026-07-28 requests (per-request `_meta` envelope) go to the SDK's stateless per-request handler;
 * 2025-11-25 traffic (`initialize`, `Mcp-Session-Id`) gets a session with an event store, so
 * server-to-client requests, GET streams and SSE resumption work.
 *
 * Usage: node test/conformance/fixture-server.ts [--port N] [--era both|legacy|modern]
 * (or PORT=N; 0 = any free port). `--era legacy` serves only 2025-11-25 (a modern request is handled
 * like any request without a session: refused, so clients fall back to `initialize`); `--era modern`
 * only 2026-07-28 (legacy requests get the unsupported-version error). Default: both.
 * `--tools classic` serves the client-request tools written against the classic API (fixture-classic.ts):
 * they ask by server-to-client request, which only a 2025-11-25 session can carry.
 * Listens on 127.0.0.1 and prints one JSON line: {"url": "http://127.0.0.1:<port>/mcp"}.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createMcpHandler, isLegacyRequest } from '@modelcontextprotocol/server';
import type { EventStore, McpRequestContext, McpServer } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import {
  addClientRequestTools,
  addContentTools,
  addHandlers,
  addPrompts,
  addResources,
  createFixtureServer,
} from './fixture-tools.ts';
import { addDiagnosticTools, addInputRequiredTools, stateCodec } from './fixture-modern.ts';
import { addClassicClientRequestTools } from './fixture-classic.ts';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const ERA = arg('--era') ?? 'both';
if (!['both', 'legacy', 'modern'].includes(ERA)) throw new Error(`unknown era \`${ERA}\` (both, legacy or modern)`);
const CLASSIC = arg('--tools') === 'classic';
const LOCAL = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
const MAX_BODY = 4 * 1024 * 1024;

/** One server instance, for one modern request or one legacy session. */
function build(ctx: McpRequestContext): McpServer {
  const s = createFixtureServer({ requestState: { verify: stateCodec.verify } });
  addContentTools(s);
  if (CLASSIC) addClassicClientRequestTools(s);
  addClientRequestTools(s, (c) => c.http?.closeSSE?.(), { askers: !CLASSIC });
  addResources(s);
  addPrompts(s);
  addHandlers(s);
  addInputRequiredTools(s);
  addDiagnosticTools(
    s,
    ctx.era === 'modern'
      ? { toolsChanged: () => modern.notify.toolsChanged(), promptsChanged: () => modern.notify.promptsChanged() }
      : { toolsChanged: () => s.sendToolListChanged(), promptsChanged: () => s.sendPromptListChanged() },
  );
  return s;
}

const modern = createMcpHandler(build, { legacy: 'reject' });
const serveModern = toNodeHandler(modern);

/** SSE events kept in memory so a 2025-era client can resume a stream with Last-Event-ID. */
function memoryEventStore(): EventStore {
  const events: { id: string; stream: string; message: unknown }[] = [];
  return {
    async storeEvent(stream, message) {
      const id = `${stream}_${String(events.length).padStart(8, '0')}`;
      events.push({ id, stream, message });
      return id;
    },
    async getStreamIdForEventId(id) {
      return events.find((e) => e.id === id)?.stream;
    },
    async replayEventsAfter(lastId, { send }) {
      const at = events.findIndex((e) => e.id === lastId);
      const stream = events[at]?.stream ?? '';
      for (const e of events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message as never);
      return stream;
    },
  };
}

const sessions = new Map<string, NodeStreamableHTTPServerTransport>();

async function serveLegacy(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
  const sid = req.headers['mcp-session-id'];
  let t = typeof sid === 'string' ? sessions.get(sid) : undefined;
  if (!t) {
    if (sid) return json(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'session not found' } });
    if (req.method !== 'POST')
      return json(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'no session' } });
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      eventStore: memoryEventStore(),
      retryInterval: 100,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    await build({ era: 'legacy' }).connect(transport);
    t = transport;
  }
  await t.handleRequest(req, res, body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

const http = createServer(async (req, res) => {
  try {
    // DNS-rebinding protection: only loopback Host and Origin values are served.
    const origin = req.headers.origin;
    if (!LOCAL.test(req.headers.host ?? '') || (origin && !LOCAL.test(origin.replace(/^https?:\/\//, '')))) {
      return json(res, 403, { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'forbidden host or origin' } });
    }
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp') return json(res, 404, { error: 'not found' });
    let body: unknown;
    if (req.method === 'POST') {
      const raw = (await readBody(req)).toString('utf8');
      try {
        body = JSON.parse(raw);
      } catch {
        return json(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
      }
    }
    const legacy = ERA === 'legacy' || (ERA === 'both' && (await isLegacyRequest(await toWebRequest(req, body), body)));
    if (legacy) await serveLegacy(req, res, body);
    else await serveModern(req, res, body);
  } catch (err) {
    if (!res.headersSent) json(res, 500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: String(err) } });
    else res.end();
  }
});

const port = Number(arg('--port') ?? process.env.PORT ?? 0);
http.listen(port, '127.0.0.1', () => {
  const { port: bound } = http.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${bound}/mcp` })}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));

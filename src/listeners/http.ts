/**
 * The HTTP listener: routes only. `/mcp` and `/servers/<name>/mcp` go to the MCP endpoint;
 * `/healthz` (the process is alive), `/readyz` (the store answers and every enabled upstream is
 * connected; the body says which is not), `/metrics` (Prometheus). Nothing here knows policy.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

// Required, not imported: building node:http's ES module facade reads every export, and some of
// them load Node's own copy of undici (about 3.5 MB the gateway never uses).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
import type { AddressInfo } from 'node:net';
import { GatehouseError } from '../protocol/errors.ts';
import { toWire } from '../protocol/wire.ts';
import { handleMcp, type EndpointDeps } from './mcp-endpoint.ts';
import { checkHost, checkOrigin, clientGone, refuseRepeatedHeaders } from './guards.ts';
import type { Store } from '../storage/types.ts';
import type { AdminDeps } from './admin-deps.ts';
import { ADMIN_PREFIX, handleAdmin } from './admin.ts';
import { adminFailure } from './admin-errors.ts';
import { handleApprovalPage, type ApprovalPageDeps } from './approvals-http.ts';
import { handleConsole } from './console-http.ts';
import { withConsoleViewer, type ConsoleDeps } from './console-viewer.ts';
import { callbackPage, type CallbackDeps } from './oauth-callback.ts';
import { requireScrapeToken } from '../identity/scrape-token.ts';
import { type Readiness, readyzBody } from './readyz-body.ts';
import { ConnectionGate, connectionCaps, type ConnectionSettings } from './connection-gate.ts';
import { QUEUE, takingTurns } from './request-turns.ts';

/** Upstream OAuth's callback (oauth-callback.ts) among them. */
export interface HttpDeps extends CallbackDeps {
  endpoint: () => EndpointDeps;
  store: Store;
  /** Whether the audit trail takes records (false from a write the store refused until it takes one again). */
  auditWritable?: () => boolean;
  /** Connected and catalogued. */
  upstreamReady: (name: string) => boolean;
  /** Enabled servers with no connection yet, and why (their credentials are unavailable, or starting). */
  upstreamsUnconnected: () => Map<string, string>;
  admin: () => AdminDeps;
  approvalPage: () => ApprovalPageDeps;
  /** The operator console at /console/ (absent: 404). */
  console?: () => ConsoleDeps;
  /** When set, /metrics and /readyz need `Authorization: Bearer <it>`. */
  metricsToken?: () => string | undefined;
  /** Whether callers authenticate (`identity:` configured): then /readyz names no server without the scrape token. */
  identityConfigured?: () => boolean;
  /** Slow clients: headers must arrive within headersTimeoutMs (default 10 s), bodies within bodyTimeoutMs (default 30 s). */
  timeouts?: { headersMs?: number; bodyMs?: number };
  /** `gateway.maxConnections`, `maxConnectionsPerAddress`, `trustedProxies` (read per connection: a reload applies). */
  connections: () => ConnectionSettings;
}

const SERVER_PATH = /^\/servers\/([a-z0-9][a-z0-9_-]{0,47})\/mcp$/;
const PRM_PREFIX = '/.well-known/oauth-protected-resource';

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** One upstream in the readiness answer: its open or half-open circuit, ready, still loading, or its state. */
function upstreamStatus(circuit: string, ready: boolean, state: string): string {
  if (circuit !== 'closed') return `circuit ${circuit}`;
  if (ready) return 'ready';
  if (state === 'ready') return 'loading catalogue';
  return state;
}

/**
 * The HTTP status of an error outside MCP: the wire status, except that a JSON-RPC "200 with an
 * error" is plain HTTP there, so a refusal of the request is 400 and an internal failure 500.
 */
function plainHttpStatus(wireStatus: number, err: unknown): number {
  if (wireStatus !== 200) return wireStatus;
  return err instanceof GatehouseError && err.code !== 'E_INTERNAL' ? 400 : 500;
}

async function readiness(deps: HttpDeps): Promise<Readiness> {
  let store = 'ok';
  try {
    await deps.store.ping();
  } catch {
    store = 'unavailable';
  }
  // The store may answer a query and still refuse the trail's writes (its disk full): every call
  // would be refused, so this replica is out of rotation until a record is written again.
  const audit = deps.auditWritable?.() === false ? 'unavailable: audit records cannot be written' : 'ok';
  const upstreams: Record<string, string> = {};
  let ready = store === 'ok' && audit === 'ok';
  for (const [name, up] of deps.endpoint().upstreams) {
    // The connection's own breaker (the gateway's listings): a tenant's calls count in that tenant's
    // breaker, which neither takes this replica out of rotation nor is shown to whoever reads this.
    const circuit = up.breaker?.state ?? 'closed';
    const ok = deps.upstreamReady(name) && circuit !== 'open';
    upstreams[name] = upstreamStatus(circuit, ok, up.state);
    if (!ok) ready = false;
  }
  // A server whose credentials are missing has no connection at all: not ready either.
  for (const [name, why] of deps.upstreamsUnconnected()) {
    upstreams[name] = why;
    ready = false;
  }
  return { ready, store, audit, upstreams };
}

/**
 * The path a request is routed by: its target as sent, up to the query, never resolved (`.`, `..`,
 * `//` and `\` are not folded). A door is served at its one spelling only: a proxy in front that
 * restricts `/admin/v1/` by its prefix and passes `//admin/v1/...` or `/x/../admin/v1/...` on as
 * sent finds them not the admin API here either (a plain 404), never a way round its rule.
 */
function routePath(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0];
}

/** Whether `path` (routePath's) goes to the admin API: the routes below and the error shape both ask this. */
const isAdminPath = (path: string): boolean => path.startsWith(ADMIN_PREFIX);

async function route(req: IncomingMessage, res: ServerResponse, path: string, deps: HttpDeps): Promise<void> {
  // Before any route reads a header: every door (MCP, approvals, console, admin, metrics) alike.
  refuseRepeatedHeaders(req.rawHeaders);
  const ep = deps.endpoint();
  if (path === '/mcp') return handleMcp(req, res, '', ep);
  const m = SERVER_PATH.exec(path);
  if (m) return handleMcp(req, res, m[1], ep);
  if (path === '/approvals' || path.startsWith('/approvals/')) {
    checkHost(req.headers.host, ep.hosts);
    return handleApprovalPage(req, res, path, await withConsoleViewer(req, deps.approvalPage(), deps.console?.()));
  }
  if (deps.console && (path === '/console' || path.startsWith('/console/'))) {
    checkHost(req.headers.host, ep.hosts);
    return handleConsole(req, res, path, deps.console());
  }
  // The admin api's few actions (revoking a credential, pruning the audit trail) are POSTs; everything else here is read-only.
  if (req.method === 'POST' && isAdminPath(path)) {
    checkHost(req.headers.host, ep.hosts);
    checkOrigin(req.headers.origin, ep.origins);
    return handleAdmin(req, res, path, deps.admin(), (status, body) => json(res, status, body));
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (isAdminPath(path)) throw new GatehouseError('E_METHOD_NOT_ALLOWED'); // in the admin API's shape
    return json(res, 405, { error: 'method not allowed' });
  }
  checkHost(req.headers.host, ep.hosts);
  if (path.startsWith(PRM_PREFIX)) {
    // RFC 9728: the path-suffixed forms (for /mcp and each /servers/<name>/mcp) and the root form.
    const meta = ep.identity.metadata;
    const suffix = path.slice(PRM_PREFIX.length);
    if (meta && (suffix === '' || suffix === '/mcp' || SERVER_PATH.test(suffix))) return json(res, 200, meta);
    return json(res, 404, { error: 'not found' });
  }
  if (path === '/oauth/callback') {
    const page = await callbackPage(new URL(req.url ?? '/', 'http://x').searchParams, deps);
    return json(res, page.status, page.html, 'text/html; charset=utf-8');
  }
  if (path === '/healthz') return json(res, 200, { status: 'ok' });
  if (path === '/readyz') {
    const token = deps.metricsToken?.();
    requireScrapeToken(req, token);
    const r = await readiness(deps);
    // Server names to the scrape token's holder, or where no caller authenticates anyway (readyz-body.ts).
    return json(res, r.ready ? 200 : 503, readyzBody(r, Boolean(token) || !deps.identityConfigured?.()));
  }
  if (isAdminPath(path)) return handleAdmin(req, res, path, deps.admin(), (status, body) => json(res, status, body));
  if (path === '/metrics') {
    requireScrapeToken(req, deps.metricsToken?.());
    const { contentType, body } = await ep.metrics.render();
    return json(res, 200, body, contentType);
  }
  json(res, 404, { error: 'not found' });
}

export class HttpListener {
  readonly #server: Server;
  readonly #deps: HttpDeps;

  constructor(deps: HttpDeps) {
    this.#deps = deps;
    // Slow headers and slow bodies cannot hold a connection: node answers 408 and closes once the
    // headers, or the whole request, have not arrived in time (a response may then take as long as
    // it needs: these clocks stop when the request is in). /mcp also times its body itself, to answer
    // with a JSON-RPC error; requestTimeout is the net under every other route.
    const headersMs = deps.timeouts?.headersMs ?? 10_000;
    const requestMs = headersMs + (deps.timeouts?.bodyMs ?? 30_000);
    const gate = new ConnectionGate(
      () => connectionCaps(deps.connections()),
      () => deps.endpoint(),
    );
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      const path = routePath(req);
      route(req, res, path, this.#deps).catch((err) => {
        const ep = deps.endpoint();
        if (clientGone(err, ep.log)) return; // a form or an admin body cut short, as on /mcp
        const w = toWire(err, null, ep.log);
        if (!res.headersSent) {
          for (const [k, v] of Object.entries(ep.identity.challenge(err))) res.setHeader(k, v);
          // The admin API is REST: its errors are its own shape; every other route keeps the envelope.
          // Decided by the path the request was routed by, so the two never disagree.
          const admin = isAdminPath(path);
          json(res, plainHttpStatus(w.status, err), admin ? adminFailure(err, w.body.error.message) : w.body);
        } else res.end();
      });
    };
    this.#server = createServer(
      {
        requestTimeout: requestMs,
        headersTimeout: headersMs,
        connectionsCheckingInterval: Math.min(1000, headersMs),
        keepAliveTimeout: 65_000,
      },
      // A connection's requests are handled one at a time, as HTTP/1.1 answers them.
      takingTurns(handle, (socket) => gate.pipelining(socket, QUEUE)),
    );
    // After node's own listener: a refused socket is closed before its parser reads a byte.
    this.#server.on('connection', (socket) => gate.admit(socket));
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`);
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve(this.#server.address() as AddressInfo));
    });
  }

  async close(): Promise<void> {
    this.#server.closeIdleConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      setTimeout(() => {
        this.#server.closeAllConnections();
        resolve();
      }, 2000).unref();
    });
  }
}

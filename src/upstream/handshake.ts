/**
 * Era detection and handshake with an upstream: try `server/discover` (2026-07-28); when the server
 * does not know it, fall back to `initialize` (2025-11-25 and earlier). A cached verdict skips the
 * probe. The gateway declares the client capabilities it can bridge to its callers.
 */
import { GatehouseError, UpstreamRpcError } from '../protocol/errors.ts';
import { GATEWAY_INFO, LEGACY_VERSION, META, MODERN_VERSION, modernMeta } from '../protocol/era.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import type { Peer } from './peer.ts';
import type { Era, ServerIdentity } from './types.ts';

/** Capabilities the gateway offers upstream: it routes these requests to the caller that caused them. */
const GATEWAY_CLIENT_CAPABILITIES: JsonObject = {
  roots: { listChanged: true },
  sampling: {},
  elicitation: { form: {}, url: {} },
};

/** What is declared to a server: the gateway's capabilities, without `roots` for one configured `roots: false`. */
export function capabilitiesFor(
  cfg: { roots?: boolean },
  offered: JsonObject = GATEWAY_CLIENT_CAPABILITIES,
): JsonObject {
  if (cfg.roots !== false) return offered;
  const { roots: _roots, ...rest } = offered;
  return rest;
}

export interface HandshakeOptions {
  timeoutMs: number;
  /** The client capabilities declared (capabilitiesFor); default all the gateway offers. */
  capabilities?: JsonObject;
  /** Known era from a cached verdict; skips the probe. */
  prior?: Era;
  /** The operator's choice (`era:` in config): `legacy` never probes; `modern` never falls back to `initialize`. */
  only?: Era;
  signal?: AbortSignal;
}

/** Errors that mean "this server does not speak the modern era" (method unknown, or plain HTTP 4xx). */
function meansLegacy(err: unknown): boolean {
  if (!(err instanceof UpstreamRpcError)) return false;
  if (err.rpcCode === -32601 || err.rpcCode === -32600 || err.rpcCode === -32602) return true;
  const status = (err.data as { httpStatus?: number } | undefined)?.httpStatus;
  return err.rpcCode !== -32022 && err.rpcCode !== -32020 && (status === 400 || status === 404 || status === 405);
}

export async function handshake(peer: Peer, opts: HandshakeOptions): Promise<ServerIdentity> {
  const capabilities = opts.capabilities ?? GATEWAY_CLIENT_CAPABILITIES;
  const call = { timeoutMs: opts.timeoutMs, maxTotalMs: opts.timeoutMs, signal: opts.signal };
  if (opts.only === 'modern' || (opts.only !== 'legacy' && opts.prior !== 'legacy')) {
    try {
      const r = await peer.request('server/discover', { _meta: modernMeta(capabilities) }, call);
      const versions = Array.isArray(r.supportedVersions) ? r.supportedVersions : [];
      if (versions.includes(MODERN_VERSION)) {
        const meta = (r._meta ?? {}) as JsonObject;
        return {
          era: 'modern',
          protocolVersion: MODERN_VERSION,
          serverInfo: (meta[META.serverInfo] ?? r.serverInfo ?? {}) as JsonObject,
          capabilities: (r.capabilities ?? {}) as JsonObject,
          instructions: typeof r.instructions === 'string' ? r.instructions : undefined,
        };
      }
    } catch (err) {
      if (!meansLegacy(err)) throw err;
    }
    if (opts.only === 'modern')
      throw new GatehouseError(
        'E_UPSTREAM_PROTOCOL',
        `upstream does not speak ${MODERN_VERSION} (configured \`era: modern\`)`,
      );
  }
  const r = await peer.request(
    'initialize',
    { protocolVersion: LEGACY_VERSION, capabilities, clientInfo: GATEWAY_INFO },
    call,
  );
  if (typeof r.protocolVersion !== 'string')
    throw new GatehouseError('E_UPSTREAM_PROTOCOL', 'upstream initialize result has no protocolVersion');
  await peer.notify('notifications/initialized');
  return {
    era: 'legacy',
    protocolVersion: r.protocolVersion,
    serverInfo: (r.serverInfo ?? {}) as JsonObject,
    capabilities: (r.capabilities ?? {}) as JsonObject,
    instructions: typeof r.instructions === 'string' ? r.instructions : undefined,
  };
}

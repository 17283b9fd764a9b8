/** Protocol versions and the two eras of MCP (2025-11-25 with sessions, 2026-07-28 stateless). */
import type { JsonObject } from './jsonrpc.ts';

export const MODERN_VERSION = '2026-07-28';
export const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSIONS = [MODERN_VERSION] as const;
/** Legacy versions accepted downstream (initialize negotiates down to one of these). */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
export const SUPPORTED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

export function isModernVersion(v: unknown): boolean {
  return typeof v === 'string' && v >= MODERN_VERSION && /^\d{4}-\d{2}-\d{2}$/.test(v);
}

export function isSupportedVersion(v: unknown): boolean {
  return typeof v === 'string' && SUPPORTED_VERSIONS.includes(v);
}

/** The protocol version a modern request declares in its _meta, if any. */
export function declaredVersion(params: JsonObject | undefined): string | undefined {
  const meta = params?._meta as JsonObject | undefined;
  const v = meta?.[META.protocolVersion];
  return typeof v === 'string' ? v : undefined;
}

/** The lowest log level a modern request asks to be relayed, from its _meta (none: no log messages). */
export function requestedLogLevel(meta: JsonObject): string | undefined {
  const level = meta[META.logLevel];
  // Present but no string: kept as its JSON text, which no level is (dispatch refuses it, naming it).
  if (level === undefined) return undefined;
  return typeof level === 'string' ? level : JSON.stringify(level);
}

export const GATEWAY_INFO = { name: 'gatehouse', title: 'Gatehouse MCP gateway', version: '0.1.0' } as const;

/** The _meta every modern request from the gateway to an upstream carries. */
export function modernMeta(clientCapabilities: JsonObject = {}): JsonObject {
  return {
    [META.protocolVersion]: MODERN_VERSION,
    [META.clientCapabilities]: clientCapabilities,
    [META.clientInfo]: GATEWAY_INFO,
  };
}

/**
 * What the headers of a request to `/mcp` must say, checked against its body before anything is
 * dispatched: the negotiated version of a legacy session; a modern request's version, method, name
 * and client capabilities (2026-07-28: headers and body must agree, so a proxy routing by header
 * cannot be told one thing while the gateway acts on another); and the `Mcp-Param-*` headers of a
 * modern `tools/call`.
 */
import type { IncomingMessage } from 'node:http';
import { GatehouseError, quote } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/jsonrpc.ts';
import { LEGACY_VERSIONS, META, SUPPORTED_VERSIONS, isModernVersion, isSupportedVersion } from '../protocol/era.ts';
import { paramHeaderProblem } from '../protocol/param-headers.ts';
import { decodeHeaderValue } from '../protocol/header-value.ts';
import type { LiveSession } from '../sessions/sessions.ts';
import type { Catalog } from '../catalog/catalog.ts';

// A Map, looked up by the caller's method: a plain object would answer `constructor` with a function.
const NAME_HEADER_METHODS = new Map<string, string>([
  ['tools/call', 'name'],
  ['prompts/get', 'name'],
  ['resources/read', 'uri'],
  // The tasks extension routes by task: Mcp-Name carries the task id.
  ['tasks/get', 'taskId'],
  ['tasks/update', 'taskId'],
  ['tasks/cancel', 'taskId'],
]);

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * After initialize the header names the negotiated version (clients SHOULD send it); an earlier
 * legacy version is served as the spec's conformance suite expects, a later or a modern one never:
 * a session cannot talk itself into behaviour it did not negotiate. (Versions are dates: they sort.)
 */
export function checkSessionVersion(session: LiveSession, versionHeader: string | undefined): void {
  if (
    versionHeader !== undefined &&
    (versionHeader > session.record.protocolVersion || !(LEGACY_VERSIONS as readonly string[]).includes(versionHeader))
  ) {
    throw new GatehouseError(
      'E_PROTOCOL_VERSION',
      `protocol version ${quote(versionHeader)} is not the one this session negotiated (${quote(session.record.protocolVersion)})`,
      { supported: [session.record.protocolVersion], requested: versionHeader },
    );
  }
}

export function checkModernHeaders(
  req: IncomingMessage,
  method: string,
  params: JsonObject | undefined,
  declared: string | undefined,
  versionHeader: string | undefined,
): void {
  if (declared === undefined)
    throw new GatehouseError('E_INVALID_META', `invalid params: \`_meta.${META.protocolVersion}\` is required`);
  // Header and body disagree: a mismatch, whatever the versions are (checked before support).
  if (versionHeader === undefined)
    throw new GatehouseError(
      'E_HEADER_MISMATCH',
      `header mismatch: the mcp-protocol-version header is missing (the body declares ${quote(declared)})`,
    );
  if (versionHeader !== declared) {
    throw new GatehouseError(
      'E_HEADER_MISMATCH',
      `header mismatch: mcp-protocol-version ${quote(versionHeader)} does not match the body ${quote(declared)}`,
    );
  }
  if (!isModernVersion(declared) || !isSupportedVersion(declared)) {
    throw new GatehouseError('E_PROTOCOL_VERSION', `unsupported protocol version ${quote(declared)}`, {
      supported: SUPPORTED_VERSIONS,
      requested: declared,
    });
  }
  const mh = header(req, 'mcp-method');
  if (mh !== method)
    throw new GatehouseError(
      'E_HEADER_MISMATCH',
      mh === undefined
        ? `header mismatch: the mcp-method header is missing (the body's method is ${quote(method)})`
        : `header mismatch: mcp-method ${quote(mh)} does not match the body ${quote(method)}`,
    );
  const field = NAME_HEADER_METHODS.get(method);
  if (field) {
    const raw = header(req, 'mcp-name');
    const body = params?.[field];
    if (raw === undefined)
      throw new GatehouseError(
        'E_HEADER_MISMATCH',
        `header mismatch: the mcp-name header is missing (the body's ${field})`,
      );
    if (decodeHeaderValue(raw) !== body)
      throw new GatehouseError('E_HEADER_MISMATCH', `header mismatch: mcp-name does not match the body ${field}`);
  }
  const caps = (params?._meta as JsonObject | undefined)?.[META.clientCapabilities];
  if (caps === undefined || typeof caps !== 'object' || caps === null || Array.isArray(caps)) {
    throw new GatehouseError(
      'E_INVALID_META',
      `invalid params: \`_meta.${META.clientCapabilities}\` must be an object`,
    );
  }
}

/** Mcp-Param-* headers of a modern tools/call must match the arguments the tool's schema names. */
export function checkParamHeaders(
  req: IncomingMessage,
  params: JsonObject | undefined,
  scope: string,
  catalog: Catalog,
): void {
  const name = params?.name;
  if (typeof name !== 'string') return;
  const def = catalog.resolve('tools', name, scope || undefined)?.def;
  if (!def) return; // unknown tools are refused by the pipeline, with the same error as forbidden ones
  const problem = paramHeaderProblem(
    def.inputSchema,
    params?.arguments as JsonObject | undefined,
    req.headers,
    decodeHeaderValue,
  );
  if (problem) throw new GatehouseError('E_HEADER_MISMATCH', `header mismatch: ${problem}`);
}

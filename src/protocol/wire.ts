/**
 * THE mapper from thrown values to wire responses. Catalogue errors keep their message; upstream
 * JSON-RPC errors pass through; anything else is an internal error whose details stay in the log.
 */
import { GatehouseError, UpstreamRpcError, catalogueEntry } from './errors.ts';
import { failure, type JsonRpcFailure, type RequestId } from './jsonrpc.ts';
import { SUPPORTED_VERSIONS } from './era.ts';
import type { Logger } from '../observability/logger.ts';

export interface WireError {
  /** HTTP status when the error is the whole HTTP answer (transport-level refusals). */
  status: number;
  body: JsonRpcFailure;
}

export function toWire(err: unknown, id: RequestId | null, log?: Logger): WireError {
  if (err instanceof GatehouseError) {
    // A refusal for a failure of the gateway's own (its store away): the caller gets the refusal, the
    // operator the reason.
    if (err.cause !== undefined) log?.error({ code: err.code, err: describe(err.cause) }, err.message);
    let data = err.data;
    if (err.code === 'E_PROTOCOL_VERSION' && data === undefined) data = { supported: SUPPORTED_VERSIONS };
    return { status: err.http, body: failure(id, err.rpc, err.message, data) };
  }
  if (err instanceof UpstreamRpcError) {
    return { status: 200, body: failure(id, err.rpcCode, err.message, err.data) };
  }
  log?.error({ err: describe(err) }, 'internal error');
  const e = catalogueEntry('E_INTERNAL');
  return { status: e.http, body: failure(id, e.rpc, e.message) };
}

function describe(err: unknown): { message: string; stack?: string } | string {
  return err instanceof Error ? { message: err.message, stack: err.stack } : String(err);
}

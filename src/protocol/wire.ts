/**
 * THE mapper from thrown values to wire responses. Catalogue errors keep their message; upstream
 * JSON-RPC errors pass through; anything else is an internal error whose details stay in the log.
 */
import { GatehouseError, UpstreamRpcError, catalogueEntry } from './errors.ts';
import { failure, type JsonRpcFailure, type RequestId } from './jsonrpc.ts';
import { SUPPORTED_VERSIONS } from './era.ts';
import type { Logger } from '../observability/logger.ts';
import { LogBudget } from '../util/log-budget.ts';

export interface WireError {
  /** HTTP status when the error is the whole HTTP answer (transport-level refusals). */
  status: number;
  body: JsonRpcFailure;
}

/**
 * Failures logged here can come at a caller's pace (one request each): each is one line, with no
 * stack trace (GATEHOUSE_DEBUG=1 adds it), and at most a few a minute of each kind; the next line
 * says how many were left out. 413 KB of stack traces for 400 requests was a caller filling the log.
 */
const INTERNAL_LOG = new LogBudget(10, 60_000);
const CAUSE_LOG = new LogBudget(10, 60_000);
const MAX_MESSAGE = 500;

export function toWire(err: unknown, id: RequestId | null, log?: Logger): WireError {
  if (err instanceof GatehouseError) {
    // A refusal for a failure of the gateway's own (its store away): the caller gets the refusal, the
    // operator the reason.
    if (err.cause !== undefined && log)
      CAUSE_LOG.line(Date.now(), (left) =>
        log.error({ code: err.code, ...describe(err.cause), ...leftOut(left) }, err.message),
      );
    let data = err.data;
    if (err.code === 'E_PROTOCOL_VERSION' && data === undefined) data = { supported: SUPPORTED_VERSIONS };
    return { status: err.http, body: failure(id, err.rpc, err.message, data) };
  }
  if (err instanceof UpstreamRpcError) {
    return { status: 200, body: failure(id, err.rpcCode, err.message, err.data) };
  }
  // Not the caller's doing (a bug, or a value something below could not handle): the caller gets
  // -32603 and nothing of it, the operator one line.
  if (log) INTERNAL_LOG.line(Date.now(), (left) => log.warn({ ...describe(err), ...leftOut(left) }, 'internal error'));
  const e = catalogueEntry('E_INTERNAL');
  return { status: e.http, body: failure(id, e.rpc, e.message) };
}

/** The error's first line, cut (as `err`); its stack only when debugging. */
function describe(err: unknown): { err: string; stack?: string } {
  const text = err instanceof Error ? err.message : String(err);
  const message = text.split('\n', 1)[0].slice(0, MAX_MESSAGE).toWellFormed();
  const debug = process.env.GATEHOUSE_DEBUG === '1' && err instanceof Error;
  return debug ? { err: message, stack: err.stack } : { err: message };
}

function leftOut(n: number): { leftOut?: number } {
  return n > 0 ? { leftOut: n } : {};
}

/**
 * The budget of request bytes (src/util/request-budget.ts) as the MCP endpoint uses it: a request's
 * body is read against its tenant's share (or the unauthenticated share, before its caller is
 * known), and what it took is given back when its response has ended or its connection closed. A
 * request over the budget is answered 503 (`E_TOO_MANY_REQUEST_BYTES`), counted
 * (`gatehouse_requests_over_budget_total{reason}`) and logged at warn, one line a minute per tenant
 * at the most (the next says how many were left out).
 */
import type { ServerResponse } from 'node:http';
import { GatehouseError } from '../protocol/errors.ts';
import { LogBudget } from '../util/log-budget.ts';
import {
  RequestBudget,
  type Holder,
  type Refused,
  type RequestHold,
  type RequestRefusal,
} from '../util/request-budget.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

/** A refusal's log line, by the bound it was over. */
const WHY: Record<RequestRefusal, string> = {
  total: 'gateway.maxBufferedRequestBytes reached',
  tenant: 'this tenant holds its half of gateway.maxBufferedRequestBytes',
  unauthenticated: 'unauthenticated requests hold their half of gateway.maxBufferedRequestBytes',
};
/** What was refused: a request (its body), or the rest of an answer its client left unread (cut off). */
const WHAT: Record<Refused['what'], string> = {
  request: 'request refused',
  answer: 'answer cut off, its client leaving it unread',
};

/** Log budgets kept at most for this many tenants; past that they start again (a line more each, no more). */
const NOISY_TENANTS = 10_000;

/**
 * The gateway's budget of request bytes, each tenant's floor `floor` (`gateway.maxBodyBytes`):
 * refusals counted in `metrics` and logged to `log` (read when one happens).
 */
export function requestBudget(
  max: number,
  floor: number,
  tell: () => { log: Logger; metrics: Metrics },
): RequestBudget {
  const noisy = new Map<Holder, LogBudget>();
  const onRefused = (r: Refused) => {
    const { log, metrics } = tell();
    metrics.requestsOverBudget.inc({ reason: r.reason });
    if (noisy.size >= NOISY_TENANTS) noisy.clear();
    let lines = noisy.get(r.holder);
    if (!lines) {
      lines = new LogBudget(1, 60_000);
      noisy.set(r.holder, lines);
    }
    lines.line(Date.now(), (suppressed) =>
      log.warn(
        {
          reason: r.reason,
          tenant: r.holder ?? undefined,
          heldBytes: r.heldBytes,
          budgetBytes: r.budgetBytes,
          [r.holder === null ? 'unauthenticatedHeldBytes' : 'tenantHeldBytes']: r.holderBytes,
          shareBytes: r.shareBytes,
          reserveHeldBytes: r.reserveHeldBytes,
          reserveBytes: r.reserveBytes,
          ...(suppressed ? { suppressed } : {}),
        },
        `${WHAT[r.what]}: ${WHY[r.reason]}`,
      ),
    );
    return r.reason === 'tenant'
      ? new GatehouseError(
          'E_TOO_MANY_REQUEST_BYTES',
          "the gateway holds as much of this tenant's request data as it may: retry once some of its calls end",
        )
      : new GatehouseError('E_TOO_MANY_REQUEST_BYTES');
  };
  return new RequestBudget(max, onRefused, floor);
}

/**
 * What the body of the request answered on `res` is read against: `holder`'s share of `budget`,
 * all given back once `res` closes (its answer ended, or its connection closed) and no held call
 * made while answering it keeps them (src/gateway/holds.ts).
 */
export function bodyBudget(budget: RequestBudget, res: ServerResponse, holder: Holder): RequestHold {
  const hold = budget.hold(holder);
  if (res.closed) hold.release();
  else res.once('close', () => hold.release());
  return hold;
}

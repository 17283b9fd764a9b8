/**
 * The one interface both backends (memory.ts, redis.ts) implement, and what they share: rules compiled
 * for matching, and the counter keys a call maps to.
 *
 * acquire is all-or-nothing: every matching rule is checked first and only when all pass are rate
 * points taken and concurrency leases added (synchronously in memory, in one Lua script in Redis).
 * So a refused call takes nothing: a concurrency refusal costs no rate point, and a rate refusal by
 * one rule costs no point of another. No give-back step is needed, so there is no window in which
 * points taken by a call that is about to be refused make a concurrent call fail too.
 */
import type { LimitRule, LimitScope } from './model.ts';
import { globToRegExp } from './model.ts';

export interface LimitCall {
  /** From the verified principal only. */
  tenant: string;
  /** From the verified principal only (pass the principal's key to keep issuers apart). */
  subject: string;
  /** The namespaced tool, `<server>__<tool>`. */
  tool: string;
  /**
   * A request that continues a call rather than makes one (tasks/get, tasks/result, tasks/cancel):
   * counted by the rules that count every request of a principal or a tenant (scope `principal` or
   * `tenant`, no `tools` or `tools: ['*']`), not by the rules of its tool, whose budget counts calls of it (a task
   * polled every second would spend a tool's hourly budget in a minute).
   */
  continuation?: boolean;
  /**
   * A continuation's task (its key: task-lease.ts). A cap whose slot the task holds already (its
   * tools/call's lease, kept for the task: `Lease.holdForTask`) lets its requests through without
   * another slot: a running task never locks out the polling that would see it end.
   */
  task?: string;
}

export interface Lease {
  ok: true;
  /** Return the concurrency leases. Idempotent; never throws. */
  release(): Promise<void>;
  /**
   * The call created a task: keep its concurrency leases, unrenewed, for `ttlMs` (task-lease.ts
   * bounds it) or until `Limiter.endTask(task)`, whichever comes first, on whichever replica. After
   * this, `release` does nothing. Never throws (a backend that fails lets the lease expire as a
   * crashed holder's would).
   */
  holdForTask(task: string, ttlMs: number, now?: number): Promise<void>;
}

/** A lease that holds nothing (no concurrency rule matched). */
export const NO_LEASE: Lease = { ok: true, release: async () => {}, holdForTask: async () => {} };

export interface Refusal {
  ok: false;
  /** The id of the rule that refused. */
  rule: string;
  /**
   * When a retry could succeed (ms, at least 1). A cap whose slots running tasks hold: when the
   * first of them is given back at the latest (its task's deadline); sooner once a task is seen to end.
   */
  retryAfterMs: number;
  reason: string;
  /** The cap's slots are all held by running tasks (Lease.holdForTask), not by calls in flight. */
  heldByTask?: boolean;
}

export type AcquireResult = Lease | Refusal;

export interface Limiter {
  /** `now` (epoch ms) is for tests of the memory backend; the Redis backend uses Redis' clock. */
  acquire(call: LimitCall, now?: number): Promise<AcquireResult>;
  /** The task ended (or its upstream says so): its held leases are given back. Idempotent; never throws. */
  endTask(task: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A backend a reload can change without giving anything back (index.ts decides which applies):
 * new rules in place, or, when another backend takes over, retirement once its calls have ended.
 */
export interface ReloadableLimiter extends Limiter {
  /**
   * Take new rules, keeping the counters: a rule kept by id (and scope) keeps its buckets, read
   * against the new capacity (so a lowered limit never refills them), and its calls in flight.
   */
  reconfigure(rules: readonly LimitRule[]): void;
  /** Close once every lease handed out is released; meanwhile leases are renewed and released as usual. */
  retire(): Promise<void>;
}

/** What a refused concurrency check advises as retry-after: the slot frees when some call ends. */
export const CONCURRENCY_RETRY_MS = 1000;

export interface CompiledRule {
  id: string;
  scope: LimitScope;
  matches(tool: string): boolean;
  /** Counts every request of a principal or a tenant (scope `principal` or `tenant`, no `tools`), continuations included. */
  everyRequest: boolean;
  /** Token bucket; absent without a rate. */
  rate?: RateBucket;
  concurrency?: number;
}

/**
 * Compile validated rules. With `divisor` > 1 every budget is divided (the stricter local limit used
 * while Redis is unreachable): the refill rate exactly, capacities and caps rounded down but at least
 * 1, so there is always a limit and never a zero one.
 */
export function compileRules(rules: readonly LimitRule[], divisor = 1): CompiledRule[] {
  const d = Math.max(1, Math.floor(divisor));
  return rules.map((r) => {
    const globs = r.tools?.map(globToRegExp);
    const c: CompiledRule = {
      id: r.id,
      scope: r.scope,
      matches: globs ? (tool) => globs.some((g) => g.test(tool)) : () => true,
      // `tools: ['*']` is every tool, as no `tools` is (walk M).
      everyRequest: (!r.tools || r.tools.includes('*')) && (r.scope === 'principal' || r.scope === 'tenant'),
    };
    if (r.rate)
      c.rate = {
        msPerPoint: (r.rate.perSeconds * 1000 * d) / r.rate.points,
        capacity: Math.max(1, Math.floor((r.rate.burst ?? r.rate.points) / d)),
      };
    if (r.concurrency !== undefined) c.concurrency = Math.max(1, Math.floor(r.concurrency / d));
    return c;
  });
}

/**
 * The counter identity of `call` under `rule`, collision-free: a JSON array, so a tenant `a:b` with
 * subject `c` can never meet tenant `a` with subject `b:c`. The rule id keeps rules apart; the scope
 * decides which parts of the call count.
 */
export function counterKey(rule: CompiledRule, call: LimitCall): string {
  switch (rule.scope) {
    case 'principal':
      return JSON.stringify([rule.id, rule.scope, call.tenant, call.subject]);
    case 'tool':
      return JSON.stringify([rule.id, rule.scope, call.tool]);
    case 'principal_tool':
      return JSON.stringify([rule.id, rule.scope, call.tenant, call.subject, call.tool]);
    case 'tenant':
      return JSON.stringify([rule.id, rule.scope, call.tenant]);
    case 'tenant_tool':
      return JSON.stringify([rule.id, rule.scope, call.tenant, call.tool]);
  }
}

/** A rule's token bucket: ms to refill one point, and capacity. */
interface RateBucket {
  msPerPoint: number;
  capacity: number;
}

/** One check an acquire must pass: a rule's rate bucket or its concurrency counter, under a key. */
export type Check =
  | { rule: CompiledRule; kind: 'rate'; key: string; rate: RateBucket }
  | { rule: CompiledRule; kind: 'concurrency'; key: string; cap: number };

/** Every check for `call`, in rule order (rate before concurrency within a rule). */
export function checksFor(rules: readonly CompiledRule[], call: LimitCall): Check[] {
  const out: Check[] = [];
  for (const rule of rules) {
    if (call.continuation ? !rule.everyRequest : !rule.matches(call.tool)) continue;
    const key = counterKey(rule, call);
    if (rule.rate) out.push({ rule, kind: 'rate', key, rate: rule.rate });
    if (rule.concurrency !== undefined) out.push({ rule, kind: 'concurrency', key, cap: rule.concurrency });
  }
  return out;
}

/** (The 1e-6 absorbs float noise: 3600000.0000000005 ms is 3600000 ms.) */
export function refusal(check: Check, retryAfterMs: number, heldByTask = false): Refusal {
  const what = check.kind === 'rate' ? 'rate limit' : `concurrency cap of ${check.rule.concurrency}`;
  const held = heldByTask && check.kind === 'concurrency';
  return {
    ok: false,
    rule: check.rule.id,
    retryAfterMs: Math.max(1, Math.ceil(retryAfterMs - 1e-6)),
    reason: `${what} reached (rule ${check.rule.id}, per ${check.rule.scope})${held ? ', held by running tasks' : ''}`,
    ...(held ? { heldByTask: true } : {}),
  };
}

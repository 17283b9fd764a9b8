/**
 * What the audit keeps of a tool call: the write-ahead intent, the outcome, or the refusal, built
 * from a narrow record of the request (CallFacts). Arguments and results are kept as configured — not at all, as their
 * shape (types and sizes, no values), or redacted — and the arguments' SHA-256 (over RFC 8785 JSON) is
 * always kept, so a record can be matched to a call without holding its values.
 */
import type { AuditConfig } from '../config/schema.ts';
import { sha256 } from '../util/sha256.ts';
import { attachment } from '../util/attach.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import type { AuditInput } from './log.ts';
import { Redactor, WITHHELD } from './redact.ts';

const MAX_SHAPE_DEPTH = 8;

/**
 * What the audit reads of a request: a narrow record (the pipeline's state has these fields, and
 * more the audit has no business with). The audit never imports the pipeline.
 */
export interface CallFacts {
  readonly ctx: {
    requestId: string | number;
    traceId: string;
    session?: { id: string };
    principal: { subject: string; tenant: string; via: string; issuer: string; client: string };
  };
  readonly method: string;
  readonly requested: string;
  readonly params: { arguments?: unknown; _meta?: unknown };
  route?: { server: string; qualified: string };
  resources?: ReadonlyArray<{ value: string }>;
  toolClass?: 'READ' | 'WRITE' | 'DESTRUCTIVE';
  toolPin?: string;
  decision?: { effect: string; rule: string; reasons: string[]; policyRevision?: string };
  approval?: { id: string; status: string; approvers?: string[] };
  result?: unknown;
}

/** Types and sizes, no values: `{ path: 'string(12)', lines: 'array(3)' }`. Keys are redacted like values. */
function shapeOf(v: unknown, redactor: Redactor, depth = 0): unknown {
  if (v === null) return 'null';
  if (typeof v === 'string') return `string(${v.length})`;
  if (typeof v !== 'object') return typeof v;
  if (depth >= MAX_SHAPE_DEPTH) return Array.isArray(v) ? `array(${v.length})` : 'object';
  if (Array.isArray(v))
    return v.length && typeof v[0] === 'object' && v[0] !== null
      ? [`array(${v.length}) of`, shapeOf(v[0], redactor, depth + 1)]
      : `array(${v.length})`;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>)
      .slice(0, 200)
      .map(([k, x]) => [redactor.redactString(k).text, shapeOf(x, redactor, depth + 1)]),
  );
}

/** The hash of an argument object already hashed: a call's intent and outcome carry the same one. */
const ARGS_HASH = attachment<string>('argsHash');

function argsHash(args: unknown): string {
  const memo = typeof args === 'object' && args !== null;
  const known = memo ? ARGS_HASH.get(args) : undefined;
  if (known) return known;
  const hash = `sha256:${sha256(canonicalJson(args))}`;
  if (memo) ARGS_HASH.set(args, hash);
  return hash;
}

export class CallRecorder {
  readonly #cfg: AuditConfig;
  readonly #redactor: Redactor;

  constructor(cfg: AuditConfig, redactor?: Redactor) {
    this.#cfg = cfg;
    this.#redactor = redactor ?? new Redactor({ fields: cfg.redact.fields, paths: cfg.redact.paths });
  }

  get redactor(): Redactor {
    return this.#redactor;
  }

  /** Redactors with these values too, per array (a connection's values, the scrubber's): built once each. */
  readonly #withSecretsOf = new WeakMap<readonly string[], Redactor>();

  #withSecrets(secrets: readonly string[]): Redactor {
    let r = this.#withSecretsOf.get(secrets);
    if (!r) {
      r = this.#redactor.withSecrets([...secrets]);
      this.#withSecretsOf.set(secrets, r);
    }
    return r;
  }

  /** `secrets`: values injected into this call (credentials), removed in every encoding. */
  #capture(
    root: 'arguments' | 'result',
    value: unknown,
    mode: AuditConfig['arguments'],
    secrets: readonly string[],
  ): { value?: unknown; withheld?: boolean } {
    if (mode === 'none' || value === undefined) return {};
    const redactor = secrets.length ? this.#withSecrets(secrets) : this.#redactor;
    if (mode === 'shape') {
      try {
        return { value: shapeOf(value, redactor) };
      } catch {
        return { value: WITHHELD, withheld: true };
      }
    }
    // Redacted under its root key, so that configured paths read `$.arguments.email`.
    const r = redactor.redact({ [root]: value });
    const out = r.value as Record<string, unknown> | string;
    return typeof out === 'object' && out !== null
      ? { value: out[root], withheld: r.withheld || undefined }
      : { value: WITHHELD, withheld: true };
  }

  /** The members every call record has, as a new object the caller completes (no copy: ADR 0014). */
  #common(s: CallFacts): AuditInput {
    const ctx = s.ctx;
    const p = ctx.principal;
    const args = s.params.arguments;
    const meta = (s.params._meta ?? {}) as Record<string, unknown>;
    const runLabel =
      typeof meta['io.gatehouse/run'] === 'string' ? (meta['io.gatehouse/run'] as string).slice(0, 200) : undefined;
    return {
      kind: 'call.intent',
      requestId: String(ctx.requestId),
      sessionId: ctx.session?.id,
      runId: ctx.session?.id ?? runLabel ?? ctx.traceId,
      traceId: ctx.traceId,
      actor: { subject: p.subject, tenant: p.tenant, via: p.via, issuer: p.issuer },
      client: p.client,
      method: s.method,
      server: s.route?.server,
      tool: (s.route?.qualified ?? s.requested).slice(0, 1000),
      resources: s.resources?.map((r) => r.value.slice(0, 1000)),
      class: s.toolClass,
      pin: s.toolPin,
      decision: s.decision
        ? {
            effect: s.decision.effect,
            rule: s.decision.rule,
            reasons: s.decision.reasons,
            policyRevision: s.decision.policyRevision,
          }
        : undefined,
      approval: s.approval,
      argsHash: args === undefined ? undefined : argsHash(args),
    };
  }

  intent(s: CallFacts, secrets: readonly string[] = []): AuditInput {
    const args = this.#capture('arguments', s.params.arguments, this.#cfg.arguments, secrets);
    const r = this.#common(s);
    r.args = args.value;
    r.withheld = args.withheld;
    return r;
  }

  outcome(
    s: CallFacts,
    intent: string,
    outcome: NonNullable<AuditInput['outcome']>,
    latencyMs: number,
    error?: string,
    secrets: readonly string[] = [],
  ): AuditInput {
    const result = this.#capture('result', s.result, this.#cfg.results, secrets);
    const r = this.#common(s);
    r.kind = 'call.outcome';
    r.intent = intent;
    r.outcome = outcome;
    r.latencyMs = Math.round(latencyMs * 1000) / 1000;
    r.error = error;
    r.result = result.value;
    r.withheld = result.withheld;
    return r;
  }

  /**
   * A request refused before it went upstream. `secrets`: every injected value known (any tenant's):
   * it may be refused for carrying one (inspect), and its arguments are kept without it.
   */
  refused(s: CallFacts, stage: string, error: string, latencyMs: number, secrets: readonly string[] = []): AuditInput {
    const args = this.#capture('arguments', s.params.arguments, this.#cfg.arguments, secrets);
    const r = this.#common(s);
    r.kind = 'call.refused';
    r.outcome = 'refused';
    r.stage = stage;
    r.error = error;
    r.latencyMs = Math.round(latencyMs * 1000) / 1000;
    r.args = args.value;
    r.withheld = args.withheld;
    return r;
  }
}

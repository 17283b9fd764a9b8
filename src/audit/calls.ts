/**
 * What the audit keeps of a tool call: the write-ahead intent, the outcome, or the refusal, built
 * from a narrow record of the request (CallFacts). Arguments and results are kept as configured — not at all, as their
 * shape (types and sizes, no values), or redacted — and the arguments' SHA-256 (over RFC 8785 JSON) is
 * always kept, so a record can be matched to a call without holding its values.
 *
 * What is kept is bounded, whatever the caller or upstream sent: arguments refused for breaking the
 * global bounds are kept as a marker with their size, and a captured value over MAX_CAPTURED_CHARS
 * of JSON is kept as its shape, or as a marker when even that is too large. A record is written
 * (and hashed, stored, exported) for every refusal: an unbounded copy let any caller fill the disk.
 */
import type { AuditConfig } from '../config/schema.ts';
import { sha256 } from '../util/sha256.ts';
import { attachment } from '../util/attach.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { loneSurrogateAt, wellFormed } from '../util/well-formed.ts';
import type { AuditInput } from './log.ts';
import { Redactor, WITHHELD } from './redact.ts';

const MAX_SHAPE_DEPTH = 8;
/** The most characters of JSON a record keeps of a call's arguments, and of its result (docs/audit.md). */
const MAX_CAPTURED_CHARS = 32 * 1024;
/** The most characters of a bound's description kept in the marker of arguments that broke it. */
const MAX_BOUND_CHARS = 200;

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
  /** The global bound the arguments broke (validate), if they did: they are not copied. */
  readonly outOfBounds?: string;
  route?: { server: string; qualified: string };
  resources?: ReadonlyArray<{ value: string }>;
  toolClass?: 'READ' | 'WRITE' | 'DESTRUCTIVE';
  toolPin?: string;
  decision?: { effect: string; rule: string; reasons: string[]; policyRevision?: string };
  approval?: { id: string; status: string; approvers?: string[] };
  result?: unknown;
}

/** Types and sizes, no values: `{ path: 'string(12)', lines: 'array(3)' }`. Keys are redacted like values. */
/**
 * The run a call belongs to: its session, else the caller's `_meta["io.gatehouse/run"]` label, else
 * its trace id. Every record of the call carries it (its approval's too), so a run is reconstructed
 * from them.
 */
export function runIdOf(ctx: { session?: { id: string }; traceId: string }, params: { _meta?: unknown }): string {
  const meta = (params._meta ?? {}) as Record<string, unknown>;
  const label = typeof meta['io.gatehouse/run'] === 'string' ? meta['io.gatehouse/run'].slice(0, 200) : undefined;
  return ctx.session?.id ?? label ?? ctx.traceId;
}

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

/**
 * Whether `v` written as JSON takes at most `max` characters. Counts a lower bound (no escapes) and
 * stops as soon as that is over, so a huge value costs no more than `max` to reject. It counts an
 * upper bound too (every character of a string or key escaped, six times its length): a value within
 * that is kept without being written out (most arguments and results, a few KB against 32 KB: one
 * JSON.stringify of them per record saved). Only a value between the two, or holding anything but
 * JSON's types (a BigInt), is written out to be measured exactly.
 */
function fitsAsJson(v: unknown, max: number): boolean {
  let left = max;
  let escapes = 0; // what escaping could add at most: five more characters for each one counted
  let plain = true;
  const stack: unknown[] = [v];
  while (stack.length) {
    const x = stack.pop();
    if (typeof x === 'string') {
      left -= x.length + 2;
      escapes += x.length;
    } else if (Array.isArray(x)) {
      left -= 1 + Math.max(1, x.length); // brackets and commas
      if (left < 0) return false;
      for (const y of x) stack.push(y);
    } else if (x !== null && typeof x === 'object') {
      const proto = Object.getPrototypeOf(x);
      if (proto !== Object.prototype && proto !== null) plain = false; // a Date or anything with toJSON
      const keys = Object.keys(x);
      left -= 1 + Math.max(1, keys.length); // braces and commas
      if (left < 0) return false;
      for (const k of keys) {
        left -= k.length + 3; // quotes and colon
        escapes += k.length;
        stack.push((x as Record<string, unknown>)[k]);
      }
    } else if ((typeof x === 'number' && Number.isFinite(x)) || typeof x === 'boolean' || x === null)
      left -= String(x).length;
    else if (x === undefined)
      escapes += 1; // `null` in an array: four characters where none were counted
    else {
      plain = false; // a BigInt, a non-finite number, a function: let JSON.stringify say
      left -= String(x).length;
    }
    if (left < 0) return false;
  }
  if (plain && left - 5 * escapes >= 0) return true;
  try {
    return (JSON.stringify(v) ?? '').length <= max;
  } catch {
    return false; // not JSON at all (a BigInt): kept as its shape, or withheld
  }
}

/** The hash and size of an argument object already hashed: a call's intent and outcome carry the same one. */
const ARGS_DIGEST = attachment<{ hash: string; chars: number; mended?: true }>('argsDigest');

/**
 * The arguments' hash over RFC 8785 JSON, which cannot encode a lone UTF-16 surrogate: arguments
 * holding one (refused at validate, but recorded by every stage that refuses before it) are hashed
 * with U+FFFD in its place, and the record says so (`detail.replacedUnpairedSurrogates`). Never
 * throws for them: a refusal record that could not be written would lose the trace of the hostile call.
 */
function argsDigest(args: unknown): { hash: string; chars: number; mended?: true } {
  const memo = typeof args === 'object' && args !== null;
  const known = memo ? ARGS_DIGEST.get(args) : undefined;
  if (known) return known;
  let json: string;
  let mended: true | undefined;
  try {
    json = canonicalJson(args);
  } catch (err) {
    if (loneSurrogateAt(args) === undefined) throw err;
    json = canonicalJson(wellFormed(args));
    mended = true;
  }
  const digest = { hash: `sha256:${sha256(json)}`, chars: json.length, mended };
  if (memo) ARGS_DIGEST.set(args, digest);
  return digest;
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
    const shape = (): { value?: unknown; withheld?: boolean } => {
      try {
        return { value: shapeOf(value, redactor) };
      } catch {
        return { value: WITHHELD, withheld: true };
      }
    };
    let kept = mode === 'shape' ? shape() : this.#redacted(root, value, redactor);
    if (fitsAsJson(kept.value, MAX_CAPTURED_CHARS)) return kept;
    // Too large to keep whole: its types and sizes tell what it was; past that, only that it was large.
    if (mode === 'redacted') {
      kept = shape();
      if (fitsAsJson(kept.value, MAX_CAPTURED_CHARS)) return { value: kept.value, withheld: true };
    }
    return { value: `[WITHHELD: ${root} larger than ${MAX_CAPTURED_CHARS} characters of JSON]`, withheld: true };
  }

  #redacted(root: 'arguments' | 'result', value: unknown, redactor: Redactor): { value?: unknown; withheld?: boolean } {
    // Redacted under its root key, so that configured paths read `$.arguments.email`.
    const r = redactor.redact({ [root]: value });
    const out = r.value as Record<string, unknown> | string;
    return typeof out === 'object' && out !== null
      ? { value: out[root], withheld: r.withheld || undefined }
      : { value: WITHHELD, withheld: true };
  }

  /**
   * Arguments refused for breaking a global bound (too large, deep or long): no copy, not even a
   * redacted one, of what was too large to accept; which bound, and their size. Their hash is in the record.
   */
  #outOfBounds(s: CallFacts, bound: string, secrets: readonly string[]): { value?: unknown; withheld?: boolean } {
    if (this.#cfg.arguments === 'none') return {};
    const redactor = secrets.length ? this.#withSecrets(secrets) : this.#redactor;
    // The bound names a path of the caller's keys: redacted like a key, and cut.
    const which = redactor.redactString(bound).text.slice(0, MAX_BOUND_CHARS);
    const chars = argsDigest(s.params.arguments).chars;
    return {
      value: `[WITHHELD: arguments outside the global bounds (${which}): ${chars} characters of JSON]`,
      withheld: true,
    };
  }

  /** The members every call record has, as a new object the caller completes (no copy: ADR 0014). */
  #common(s: CallFacts): AuditInput {
    const ctx = s.ctx;
    const p = ctx.principal;
    const digest = s.params.arguments === undefined ? undefined : argsDigest(s.params.arguments);
    return {
      kind: 'call.intent',
      requestId: String(ctx.requestId),
      sessionId: ctx.session?.id,
      runId: runIdOf(ctx, s.params),
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
      argsHash: digest?.hash,
      detail: digest?.mended ? { replacedUnpairedSurrogates: true } : undefined,
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
    const args =
      s.outOfBounds === undefined
        ? this.#capture('arguments', s.params.arguments, this.#cfg.arguments, secrets)
        : this.#outOfBounds(s, s.outOfBounds, secrets);
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

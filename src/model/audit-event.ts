/**
 * The audit event: one versioned JSON shape for every record (schema: docs/audit-event.schema.json,
 * reference: docs/audit.md). Records are hash-chained per stream: `hash` is the SHA-256 of `prev` and
 * the canonical JSON (RFC 8785) of the record without `hash`, so an edit, a deletion or a reordering
 * breaks the chain at the exact position.
 */
import { hash } from 'node:crypto';
import { attachment } from '../util/attach.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { suggest } from '../util/suggest.ts';

export const AUDIT_SCHEMA_VERSION = 1;
export const GENESIS = '0'.repeat(64);

/** Every kind of record, one list: searches refuse a kind not in it (a typo would find nothing). */
const AUDIT_KINDS = [
  'call.intent', // write-ahead: durable before the call goes upstream
  'call.outcome', // after the call: outcome, latency, result as configured
  'call.refused', // refused before anything went upstream (which stage, which error)
  'call.unknown', // an intent whose outcome was never recorded (the process died): found at the next start
  'inventory.event', // discovery, change, quarantine, accept, classification
  'config.reloaded',
  'approval.event', // requested, decided, used, refused
  'admin.action', // keys, reviews, exports ... done through the CLI or the admin api
  'stream.opened',
  'stream.closed',
  'audit.pruned',
  'audit.replayed', // a stopped writer's spool stored (embedded store): records stored, a torn line dropped, a stop
  'egress.refused', // a sandboxed server's connection refused by the egress proxy
  'sandbox.refused', // a sandboxed server's start refused: a path through a link a sandboxed server could have put there
  'upstream.circuit', // an upstream's circuit breaker opened, let a probe through, or closed
  'audit.resumed', // the store takes records again after refusing them (since when, outcomes kept meanwhile)
  'audit.checkpoint', // a signed checkpoint of this stream (stream, seq, hash, Ed25519 signature)
] as const;
type AuditKind = (typeof AUDIT_KINDS)[number];

/** Why `kind` names no record kind (with the nearest one), or undefined: a misspelt kind would find nothing. */
export function unknownKind(kind: string): string | undefined {
  if ((AUDIT_KINDS as readonly string[]).includes(kind)) return undefined;
  const near = suggest(kind, AUDIT_KINDS);
  return `unknown record kind \`${kind}\`${near ? `: did you mean \`${near}\`?` : ''} (the kinds: ${AUDIT_KINDS.join(', ')})`;
}

export interface AuditActor {
  subject: string;
  tenant: string;
  via: string;
  issuer: string;
}

/**
 * The actor of a record a server's connection caused on its own (an egress refusal): its owner, as
 * connections name it (`tenant`, or `tenant/subject` for a per-user connection), via `connection`. The
 * tenant column is the actor's, so the tenant's admin finds the record in its audit search.
 */
export function connectionActor(owner: string): AuditActor {
  const slash = owner.indexOf('/');
  return slash < 0
    ? { subject: '', tenant: owner, via: 'connection', issuer: '' }
    : { subject: owner.slice(slash + 1), tenant: owner.slice(0, slash), via: 'connection', issuer: '' };
}

/**
 * The actor of a record about an approval request that its requester caused (asking, using it, a use
 * refused, the diff read with the requester's rights): the requester, in the request's tenant, so the
 * tenant column is set and the tenant's admin finds the record in its audit search.
 */
export function requesterActor(r: { subject: string; issuer?: string }, tenant: string): AuditActor {
  return { subject: r.subject, tenant, via: 'requester', issuer: r.issuer ?? '' };
}

/** A call's outcome as recorded (what `gatehouse audit search --outcome` takes). */
export const OUTCOMES = ['ok', 'tool_error', 'error', 'refused', 'input_required', 'unknown', 'shadow'] as const;

export interface AuditEvent {
  v: typeof AUDIT_SCHEMA_VERSION;
  /** Unique id of this record. */
  id: string;
  /** ISO 8601, milliseconds, UTC. */
  time: string;
  /** The writer (one gateway process, or one CLI invocation): the chain is per stream. */
  stream: string;
  seq: number;
  prev: string;
  hash: string;
  kind: AuditKind;
  /** The JSON-RPC id of the request (as a string). */
  requestId?: string;
  /** The legacy session, when there is one. */
  sessionId?: string;
  /** The run a call belongs to: the session, or the caller's `_meta` run label, else the trace id. */
  runId?: string;
  traceId?: string;
  actor?: AuditActor;
  client?: string;
  server?: string;
  /** The MCP method of a call record (`tools/call`, `resources/read`, `prompts/get`, ...). */
  method?: string;
  /** Namespaced tool or prompt name, or namespaced resource URI. */
  tool?: string;
  class?: string;
  /** The tool definition's pin at the time of the call. */
  pin?: string;
  resources?: string[];
  decision?: { effect: string; rule: string; reasons: string[]; policyRevision?: string };
  approval?: { status: string; id?: string; approvers?: string[] };
  outcome?: (typeof OUTCOMES)[number];
  /** Error code (E_*) of a refusal or failure. */
  error?: string;
  /** The pipeline stage that refused. */
  stage?: string;
  latencyMs?: number;
  /** SHA-256 of the canonical arguments. */
  argsHash?: string;
  /** Arguments and result as configured: absent, their shape, or redacted. */
  args?: unknown;
  result?: unknown;
  /** For outcome and unknown records: the intent they close. */
  intent?: string;
  /** Anything else the kind carries (inventory events, admin actions, reload notes). */
  detail?: Record<string, unknown>;
  /** Set when redaction failed and the value was withheld. */
  withheld?: boolean;
}

/**
 * SHA-256 (hex) of the predecessor's hash, a newline and the canonical text. The one-shot `hash` of
 * the joined text costs less than a Hash object fed in parts (1.8 against 2.5 µs for a 2 KB record).
 */
function chained(prev: string, canonical: string): string {
  return hash('sha256', `${prev}\n${canonical}`);
}

/** The hash a record must carry, given its content and its predecessor's hash. */
export function chainHash(e: Omit<AuditEvent, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = e;
  return chained(e.prev, canonicalJson(rest));
}

/** The stored text of records sealed in this process (see `seal`). */
const BODY = attachment<string>('auditBody');

/**
 * The record completed with its chain hash, in place (`e` becomes the record: a copy of a record's
 * twenty-odd members cost more than its hash). Its stored text is the canonical text the hash covers
 * with the hash added as the last member: serialised once, not once to hash and again to store.
 * Throws as canonicalJson does (a lone surrogate, a non-finite number), leaving `e` as it was.
 */
export function seal(e: Omit<AuditEvent, 'hash'>): AuditEvent {
  const canonical = canonicalJson(e);
  const hash = chained(e.prev, canonical);
  const full = e as AuditEvent;
  full.hash = hash;
  BODY.set(full, `${canonical.slice(0, -1)},"hash":"${hash}"}`);
  return full;
}

/** The text to store for a record: as sealed, else its JSON. Either parses back to the same record. */
export function bodyOf(e: AuditEvent): string {
  return BODY.get(e) ?? JSON.stringify(e);
}

/** One thing wrong with the trail, at its place (what `gatehouse audit verify` reports). */
export interface Problem {
  stream: string;
  seq: number;
  position: number | null;
  problem:
    | 'edited'
    | 'missing'
    | 'out of order'
    | 'unreadable'
    | 'not closed'
    | 'truncated'
    | 'deleted'
    | 'bad checkpoint';
  detail: string;
}

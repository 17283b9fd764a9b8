/**
 * The policy model: what a compiled policy holds, what a decision says, and the error a bad policy
 * fails with. Types only (plus PolicyError) so every other policy module can depend on this one and
 * nothing else. A compiled policy is deeply frozen: evaluation can never change it, and two replicas
 * with the same revision decide the same.
 */
import type { ToolClass } from '../model/tool-class.ts';
import type { ApproverSubject } from '../model/approval.ts';

export type { ToolClass };
export type Effect = 'allow' | 'deny' | 'approve' | 'shadow';
export const EFFECTS: readonly Effect[] = ['allow', 'deny', 'approve', 'shadow'];
export type Mode = 'enforce' | 'shadow' | 'read_only' | 'disabled';
export const MODES: readonly Mode[] = ['enforce', 'shadow', 'read_only', 'disabled'];
export type ResourceKind = 'repo' | 'path' | 'url' | 'id';
export const RESOURCE_KINDS: readonly ResourceKind[] = ['repo', 'path', 'url', 'id'];

/** One problem in a policy source, positioned like config errors: `file:line:column: path: message`. */
export interface PolicyIssue {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly issues: PolicyIssue[];
  constructor(issues: PolicyIssue[]) {
    super(issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'));
    this.issues = issues;
  }
}

/** A compiled `*`/`?` glob (or an exact name when `literal`). */
export interface Glob {
  source: string;
  literal: boolean;
  re: RegExp;
}

interface PatternBase {
  source: string;
  kind?: ResourceKind;
  /** The value compared: the exact value, the prefix (without `/*`), or the glob. */
  value: string;
  caseInsensitive: boolean;
  /** The kind the pattern's shape says (when `kind` is not given): which resources it could ever match. */
  shape?: ResourceKind;
}

/**
 * A resource pattern of a rule: `exact` compares the whole canonical value; `inside` (written
 * `prefix/*`) matches values strictly below `prefix` by `/` segments; `glob` is a full-string glob and
 * only ever matches `id` resources (a `*` in a path or repo could cross a `/`). A glob carries its
 * compiled `re`; the others have none.
 */
export type ResourcePattern =
  | (PatternBase & { match: 'exact' | 'inside'; re?: undefined })
  | (PatternBase & { match: 'glob'; re: RegExp });

export interface SubjectMatch {
  tenants?: readonly string[];
  roles?: readonly string[];
  clients?: readonly string[];
  /** Bare subjects, or `{ issuer, subject }`: matched as approver subjects are (`namesSubject`). */
  subjects?: readonly ApproverSubject[];
}

export interface Approvers {
  roles?: readonly string[];
  /** Bare subjects, or `{ issuer, subject }` (see ApproverSubject in model/approval.ts). */
  subjects?: readonly ApproverSubject[];
  count: 1 | 2;
}

/**
 * What a request acts on. A rule that names `tools` governs tool calls only, one that names `prompts`
 * governs prompts only; a rule naming neither governs every kind (resource reads included, matched by
 * its `resources` patterns against the canonical URI).
 */
export type TargetKind = 'tool' | 'prompt' | 'resource';

export interface Rule {
  id: string;
  description?: string;
  subjects?: SubjectMatch;
  tools?: readonly Glob[];
  /** Namespaced prompt names (`server__prompt`), globs as for tools. */
  prompts?: readonly Glob[];
  classes?: readonly ToolClass[];
  resources?: readonly ResourcePattern[];
  effect: Effect;
  approvers?: Approvers;
  /** Epoch milliseconds; the rule stops matching at this instant. */
  validUntil?: number;
  /** Where the rule was written (for explain); not part of the revision. */
  at: { file: string; line: number };
}

/** How to find the target resource of a call in its arguments. */
export interface ResourceSpec {
  kind: ResourceKind;
  /** The argument holding the whole value (path, url, id, repo). */
  arg?: string;
  /** For repo/id: `{owner}/{repo}` — each `{name}` is one argument, which may not contain `/`. */
  template?: string;
  /** For path: the value must be this root or inside it (by segments). */
  root?: string;
}

export interface ResourceRule {
  tool: Glob;
  resources: readonly ResourceSpec[];
  /** Where it is written (for warnings about it). */
  at: { file: string; line: number };
}

export interface Modes {
  gateway?: Mode;
  tenants: Readonly<Record<string, Mode>>;
  servers: Readonly<Record<string, Mode>>;
  tools: Readonly<Record<string, Mode>>;
}

export interface Policy {
  /** First 16 hex characters of SHA-256 over the canonical JSON of what decides (no positions). */
  revision: string;
  rules: readonly Rule[];
  resources: readonly ResourceRule[];
  modes: Modes;
  /**
   * Where each tenant, server and tool mode is written, keyed like run-time mode scopes
   * (`server:<name>`): a mode naming nothing configured is reported there. Not part of the revision.
   */
  modesAt: Readonly<Record<string, { file: string; line: number }>>;
  /** Approvers for `default:class-approval` and approve rules that name none. */
  defaultApprovers?: Approvers;
  sources: readonly string[];
}

export interface PolicyPrincipal {
  subject: string;
  /** Who vouches for the subject (`gatehouse` for API keys); without it, only bare rule subjects match. */
  issuer?: string;
  tenant: string;
  client: string;
  roles: readonly string[];
}

export interface Resource {
  kind: ResourceKind;
  value: string;
}

export interface EvaluationInput {
  principal: PolicyPrincipal;
  server: string;
  /** The namespaced tool or prompt name (`github__create_issue`), or the resource URI. */
  tool: string;
  /** Default `tool`. */
  kind?: TargetKind;
  toolClass: ToolClass;
  arguments: unknown;
  /** Already extracted and canonicalised; when absent, evaluate extracts them from `arguments`. */
  resources?: readonly Resource[];
}

export interface Decision {
  effect: Effect;
  /** A rule id, or `default:deny`, `default:class-approval`, `mode:disabled`, `mode:read_only`, `resource:refused`. */
  rule: string;
  reasons: string[];
  approvers?: Approvers;
  mode: Mode;
  /** In shadow mode: what enforcement would have decided. */
  shadowOf?: { effect: Effect; rule: string };
  revision: string;
}

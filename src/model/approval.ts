/**
 * Human approvals: when policy says `approve`, the call waits for a person. This file holds
 * only the shapes; src/approvals/lifecycle.ts moves a request between states, binding.ts there ties it
 * to one exact call.
 *
 * Times are epoch milliseconds (like `Rule.validUntil`); pages and webhooks print them as ISO UTC.
 */
import type { ToolClass } from './tool-class.ts';

type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

/** Who asked: copied from the verified Principal at request time, never from arguments. */
interface Requester {
  /** `principalKey(...)` of the caller: the identity the approval is bound to. */
  key: string;
  subject: string;
  tenant: string;
  client: string;
  /** The requester's roles and issuer when it asked: an approver's diff is read with these rights. */
  roles?: string[];
  issuer?: string;
}

/** Who decides: from the verified Principal of the person on the approval page. */
export interface Approver {
  key: string;
  subject: string;
  tenant: string;
  roles: readonly string[];
  /** Who vouches for the subject (`gatehouse` for API keys); without it, only bare subjects match. */
  issuer?: string;
  /** False for a credential that stands for no person (a service API key): it cannot decide. */
  person?: boolean;
}

/**
 * A person an approver rule names: a bare subject (an identity provider's; the config refuses it when
 * more than one issuer is configured; never an API key's person), or a subject of one issuer
 * (`gatehouse` for the person of an API key).
 */
export type ApproverSubject = string | { readonly issuer: string; readonly subject: string };

/** Who may decide, and how many distinct people must approve (from the policy decision). */
export interface ApproversRule {
  roles?: readonly string[];
  subjects?: readonly ApproverSubject[];
  count: 1 | 2;
}

/** The issuer of API-key principals: the gateway vouches for the person a key was made for. */
export const API_KEY_ISSUER = 'gatehouse';

/** The subject of a service key (one made for no person): `apikey:<name>`, the gateway's own. */
const API_KEY_SUBJECT_PREFIX = 'apikey:';

/** The subject of the service key named `name`. */
export const serviceKeySubject = (name: string): string => `${API_KEY_SUBJECT_PREFIX}${name}`;

/** Whether `subject` is written as a service key's (`apikey:<name>`), whoever carries it. */
export const isServiceKeySubject = (subject: string): boolean => subject.startsWith(API_KEY_SUBJECT_PREFIX);

/**
 * Whether `subject` would read as a service key's on a page: `apikey:` in any case, after spaces,
 * invisible characters and compatibility forms (`ＡＰＩＫＥＹ：`) are taken away. Only
 * `isServiceKeySubject` says a subject IS one; this refuses a person's subject that merely looks so.
 */
export function resemblesServiceKeySubject(subject: string): boolean {
  const plain = subject.normalize('NFKC').replace(/[\s\p{Cc}\p{Cf}]/gu, '');
  return plain.toLowerCase().startsWith(API_KEY_SUBJECT_PREFIX);
}

/** The key name of a service key's subject. */
export const serviceKeyName = (subject: string): string => subject.slice(API_KEY_SUBJECT_PREFIX.length);

/**
 * A rule's subject as written: `apikey:<name>` names the gateway's own service key, so it means that
 * key's principal (`{ issuer: gatehouse, subject: apikey:<name> }`) and nothing else; never a user of
 * an identity provider whose `sub` happens to read `apikey:<name>` (some let users pick it).
 */
export function ownKeySubject(s: string): ApproverSubject {
  return isServiceKeySubject(s) ? { issuer: API_KEY_ISSUER, subject: s } : s;
}

/**
 * Does a rule's subject (an approver rule's, or a policy rule's `subjects.subjects`) name this caller?
 * `{ issuer, subject }` only that issuer's subject; a bare one the subject from an identity provider
 * (the config refuses bare subjects when several issuers are configured), never an API key's person:
 * keys are minted, by operators and admins, for whatever person they type, so a rule counts them only
 * when it says so (`{ issuer: gatehouse, subject }`). A bare `apikey:<name>` is the service key's
 * (`ownKeySubject`): the policy compiles it so, and a request stored before says it bare.
 */
export function namesSubject(s: ApproverSubject, who: { subject: string; issuer?: string }): boolean {
  const named = typeof s === 'string' ? ownKeySubject(s) : s;
  if (typeof named === 'string') return named === who.subject && who.issuer !== API_KEY_ISSUER;
  return who.issuer !== undefined && named.issuer === who.issuer && named.subject === who.subject;
}

/** How pages, the CLI and explanations name an approver rule's subject. */
export function approverSubjectLabel(s: ApproverSubject): string {
  return typeof s === 'string' ? s : `${s.subject} (${s.issuer})`;
}

interface ApprovalDecision {
  by: { key: string; subject: string; tenant: string; roles: string[] };
  decision: 'approve' | 'deny';
  reason?: string;
  at: number;
}

export interface ApprovalRequest {
  /** Unguessable, url-safe (binding.ts `newApprovalId`). */
  id: string;
  createdAt: number;
  expiresAt: number;
  status: ApprovalStatus;
  tenant: string;
  requester: Requester;
  server: string;
  /** Namespaced (`github__create_issue`). */
  tool: string;
  toolClass: ToolClass;
  /** `sha256:<hex>` of the canonical JSON of the REAL arguments (not the redacted `args` below). */
  argsHash: string;
  /**
   * The arguments exactly as they will run (escaped when shown, never redacted: an approver must see
   * what runs). Secrets Gatehouse injects are not arguments. Never used for matching (argsHash is).
   */
  args: unknown;
  /** The tool definition pin the call was evaluated against. */
  pin: string;
  policyRevision: string;
  /** The policy rule that asked for approval (a rule id or `default:class-approval`). */
  rule: string;
  approversRule: ApproversRule;
  /** The exact target resource, when policy extracted one (`path:/srv/a.txt`, `repo:acme/web`). */
  resource?: string;
  /** Plain-language description of the action (summary.ts). */
  summary: string;
  decisions: ApprovalDecision[];
  usedAt?: number;
  /** principalKey of the caller that consumed the approval. */
  usedBy?: string;
  /**
   * The run of the call that asked (the audit's `runId`): every record of the approval carries it,
   * those an approver's action writes too (decisions, the diff read), so the run's timeline tells
   * the whole story. Absent on requests stored before it was kept: their records carry no run.
   */
  runId?: string;
}

/** The call an approval is for, or the retried call that wants to use it. */
export interface BoundCall {
  tenant: string;
  principalKey: string;
  client: string;
  server: string;
  tool: string;
  /** The real (unredacted) arguments. */
  args: unknown;
  pin: string;
  policyRevision: string;
  /** The run the call belongs to (its audit records'): the approval's own records carry it too. Not bound. */
  runId?: string;
}

/** For a diff: the file's current content (null: no such file yet), or why it is not shown; undefined: no diff. */
export type CurrentContent = { content: string | null } | { withheld: string } | undefined;

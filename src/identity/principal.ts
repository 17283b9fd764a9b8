/**
 * Who is calling, from the verified credential only (a JWT access token, an introspection answer, or
 * an API key) — never from headers, `_meta`, `clientInfo` or arguments. Every stage takes it from here.
 */
export interface Principal {
  subject: string;
  tenant: string;
  /** The OAuth client (or the API key's name). */
  client: string;
  roles: string[];
  scopes: string[];
  authenticated: boolean;
  via: 'anonymous' | 'local' | 'jwt' | 'introspection' | 'api-key';
  /** Who vouched for it: the token issuer, `gatehouse` for API keys, '' when anonymous. */
  issuer: string;
  /** Stable identity for ownership (sessions): issuer, subject and tenant together. */
  key: string;
}

/** The issuer of API-key principals (defined beside the rules that name people: model/ sits below identity/). */
import { resemblesServiceKeySubject } from '../model/approval.ts';
export { API_KEY_ISSUER } from '../model/approval.ts';

/** The subject of every caller without a credential (the anonymous loopback caller). */
export const ANONYMOUS_SUBJECT = 'anonymous';

/** The subject of the local user of `gatehouse stdio` (src/listeners/stdio.ts). */
export const LOCAL_SUBJECT = 'local';

/**
 * The subjects of callers that present no credential (the anonymous loopback caller, the local user
 * of `gatehouse stdio`): no API key acts for them, so that revoking one never means a person too.
 */
const CALLERS_WITHOUT_CREDENTIAL: ReadonlySet<string> = new Set([ANONYMOUS_SUBJECT, LOCAL_SUBJECT]);

/**
 * Whether an identity provider's `sub` is one of the gateway's own (a service key's `apikey:<name>`,
 * `anonymous`, `local`): such a token is refused. Revocation by subject, an incident's `--principal`,
 * the two-person rule's "same person" and the audit trail's actor name principals by subject, and an
 * identity provider that lets users pick their `sub` (some use the user name) would otherwise give
 * one of its users the name of the gateway's key or of its callers without a credential.
 */
export function gatewaySubject(sub: string): boolean {
  return resemblesServiceKeySubject(sub) || CALLERS_WITHOUT_CREDENTIAL.has(sub);
}

/** The longest subject a key may be made for. */
const PERSON_SUBJECT_MAX = 256;

/**
 * A person's subject as an operator or admin typed it (`keys create --person`, the console's field):
 * trimmed, or why it cannot be one. The one rule for every path that makes a key act for a person: not
 * empty, no control or invisible characters, not written like a service key's (`apikey:` in any case,
 * after spaces: the approval page would show the person as a key), not a caller without a credential.
 */
export function personSubject(given: string): { subject: string } | { refused: string } {
  const subject = given.trim();
  if (!subject) return { refused: 'is empty' };
  if (subject.length > PERSON_SUBJECT_MAX) return { refused: `is longer than ${PERSON_SUBJECT_MAX} characters` };
  if (/[\p{Cc}\p{Cf}]/u.test(subject)) return { refused: 'contains control or invisible characters' };
  if (resemblesServiceKeySubject(subject))
    return { refused: "is written like a service key's subject (`apikey:...`, in any case), which no person's is" };
  if (CALLERS_WITHOUT_CREDENTIAL.has(subject))
    return { refused: 'is the subject of callers without a credential, not a person' };
  return { subject };
}

/** The anonymous loopback caller's key (subject `anonymous` of tenant `default`): not a JSON key. */
export const ANONYMOUS_KEY = 'anonymous';

/** The key a principal's sessions (and later approvals) belong to. */
export function principalKey(p: Pick<Principal, 'via' | 'issuer' | 'subject' | 'tenant'>): string {
  return JSON.stringify([p.via === 'introspection' ? 'jwt' : p.via, p.issuer, p.subject, p.tenant]);
}

/** The parts of a principal key (`principalKey`), or undefined for another kind of key (`cli:<name>`, `anonymous`). */
export function parsePrincipalKey(
  key: string,
): { via: string; issuer: string; subject: string; tenant: string } | undefined {
  if (!key.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(key) as unknown;
    if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'string')) return undefined;
    return { via: v[0], issuer: v[1], subject: v[2], tenant: v[3] };
  } catch {
    return undefined;
  }
}

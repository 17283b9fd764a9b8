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
export { API_KEY_ISSUER } from '../model/approval.ts';

/** The anonymous loopback caller's key (subject `anonymous` of tenant `default`): not a JSON key. */
export const ANONYMOUS_KEY = 'anonymous';

/** The key a principal's sessions (and later approvals) belong to. */
export function principalKey(p: Pick<Principal, 'via' | 'issuer' | 'subject' | 'tenant'>): string {
  return JSON.stringify([p.via === 'introspection' ? 'jwt' : p.via, p.issuer, p.subject, p.tenant]);
}

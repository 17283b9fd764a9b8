/**
 * The page the browser lands on at `/oauth/callback` (upstream OAuth, `gatehouse upstream authorize`).
 * Anyone can send a person a link to it, so nothing from the query is shown as it came: with a state
 * the gateway does not know, a fixed message; with one it does, only the error code when it is one of
 * RFC 6749's registered codes (4.1.2.1), never `error_description` or `error_uri` (content spoofing on
 * the gateway's own origin: "Not authorized: click https://evil.test to retry").
 */
import { resultPage } from '../approvals/page.ts';

/** RFC 6749 4.1.2.1: the error codes an authorization server sends back in the redirect. */
const REGISTERED_ERRORS: ReadonlySet<string> = new Set([
  'access_denied',
  'invalid_request',
  'unauthorized_client',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
]);

const UNKNOWN =
  'Not authorized: this authorization is unknown or expired. Start again with `gatehouse upstream authorize`.';

/** The authorization a redirect ends. */
interface Ended {
  server: string;
  tenant: string;
}

/** What the page says when the browser came back without a code; `ended` undefined: the state is unknown. */
export function refusalText(error: string | null, ended: Ended | undefined): string {
  if (!ended) return UNKNOWN;
  const said =
    error !== null && REGISTERED_ERRORS.has(error)
      ? `the authorization server answered \`${error}\``
      : 'the authorization server sent no code (its answer is not shown here)';
  return `Not authorized: ${said} for server ${ended.server}, tenant ${ended.tenant}. Start again with \`gatehouse upstream authorize\`.`;
}

export interface CallbackDeps {
  /** The authorization server sent the browser back with a code: exchange it. */
  oauthCallback: (code: string, state: string, iss?: string) => Promise<Ended>;
  /** It came back without one: the authorization the state names, ended (undefined when unknown or expired). */
  oauthRefused: (state: string) => Promise<Ended | undefined>;
}

/** The status and HTML of the callback page for this query. */
export async function callbackPage(q: URLSearchParams, deps: CallbackDeps): Promise<{ status: number; html: string }> {
  const code = q.get('code');
  const state = q.get('state');
  if (!code || !state || q.has('error')) {
    const ended = state ? await deps.oauthRefused(state) : undefined;
    return { status: 400, html: resultPage(refusalText(q.get('error'), ended)) };
  }
  // `iss` (RFC 9207): which authorization server sent the browser back, checked against the one asked.
  const done = await deps.oauthCallback(code, state, q.get('iss') ?? undefined);
  return {
    status: 200,
    html: resultPage(
      `Gatehouse is now authorized to call server ${done.server} for tenant ${done.tenant}. You can close this page.`,
    ),
  };
}

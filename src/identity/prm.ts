// OAuth 2.0 Protected Resource Metadata (RFC 9728) and the `WWW-Authenticate: Bearer` challenge
// (RFC 6750 §3, RFC 9728 §5.1) — how an MCP client learns where to get a token for this gateway.
// Pure functions: the listener decides where to mount them.

export interface ProtectedResourceMetadataInput {
  /** the gateway's resource identifier, e.g. https://gateway.example.com/mcp — emitted exactly as given */
  resource: string;
  authorizationServers: string[];
  scopesSupported: string[];
  resourceName?: string;
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** The RFC 9728 document. `resource` is not normalised: it must equal the token audience byte for byte. */
export function protectedResourceMetadata(input: ProtectedResourceMetadataInput): ProtectedResourceMetadata {
  checkResource(input.resource);
  for (const as of input.authorizationServers) {
    if (!URL.canParse(as)) throw new TypeError(`prm: authorization server ${as} is not an absolute URL`);
  }
  for (const s of input.scopesSupported) checkScopeToken(s);
  const doc: ProtectedResourceMetadata = {
    resource: input.resource,
    authorization_servers: [...input.authorizationServers],
    scopes_supported: [...input.scopesSupported],
    // Only the Authorization header: tokens in query strings or form bodies end up in logs.
    bearer_methods_supported: ['header'],
  };
  if (input.resourceName !== undefined) doc.resource_name = input.resourceName;
  return doc;
}

/**
 * Where the document must be served (RFC 9728 §3.1): the well-known segment inserted between the host
 * and the resource's path (and query), e.g. https://h/.well-known/oauth-protected-resource/mcp, followed
 * by the root form https://h/.well-known/oauth-protected-resource that older MCP clients probe.
 */
export function metadataUrls(resourceUrl: string): string[] {
  const u = checkResource(resourceUrl);
  const root = `${u.origin}${WELL_KNOWN}`;
  // "any terminating slash following the host component" is dropped: https://h/ has no path suffix.
  const suffix = (u.pathname === '/' ? '' : u.pathname) + u.search;
  return suffix ? [`${root}${suffix}`, root] : [root];
}

export interface ChallengeInput {
  resourceMetadataUrl: string;
  error?: 'invalid_token' | 'insufficient_scope' | 'invalid_request';
  scope?: string[];
  description?: string;
}

/**
 * The `WWW-Authenticate` value for a 401/403: `Bearer resource_metadata="...", error="...", ...`.
 * Every value is a quoted-string restricted to RFC 6750's character set, so nothing — a CR/LF, a quote,
 * a backslash, a non-ASCII character — from a description can split the header or add a parameter.
 */
export function wwwAuthenticate(input: ChallengeInput): string {
  if (!URL.canParse(input.resourceMetadataUrl)) throw new TypeError('prm: resourceMetadataUrl must be an absolute URL');
  const params: string[] = [`resource_metadata=${quote(new URL(input.resourceMetadataUrl).href)}`];
  if (input.error) {
    if (!['invalid_token', 'insufficient_scope', 'invalid_request'].includes(input.error))
      throw new TypeError('prm: unknown error code');
    params.push(`error=${quote(input.error)}`);
  }
  if (input.scope?.length) {
    for (const s of input.scope) checkScopeToken(s);
    params.push(`scope=${quote(input.scope.join(' '))}`);
  }
  if (input.description) {
    const text = sanitizeDescription(input.description);
    if (text) params.push(`error_description=${quote(text)}`);
  }
  return `Bearer ${params.join(', ')}`;
}

/** RFC 6750 error_description: %x20-21 / %x23-5B / %x5D-7E — no quote, no backslash, no controls. */
export function sanitizeDescription(text: string): string {
  return text
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, 200);
}

// Values reaching here are already restricted to characters that need no escaping; the escape is a
// second line of defence should that ever change.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this strips from a quoted header value
const quote = (value: string): string => `"${value.replace(/[\\"]/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, '')}"`;

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

function checkScopeToken(scope: string): void {
  if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope))
    throw new TypeError(`prm: invalid scope token ${JSON.stringify(scope)}`);
}

function checkResource(resource: string): URL {
  if (typeof resource !== 'string' || !URL.canParse(resource))
    throw new TypeError('prm: resource must be an absolute URL');
  const u = new URL(resource);
  if (u.hash || resource.includes('#')) throw new TypeError('prm: resource must not have a fragment');
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TypeError('prm: resource must be an http(s) URL');
  return u;
}

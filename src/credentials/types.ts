// Credential references and the contract of the providers that resolve them to secrets.
//
// Configuration never holds a secret, only a reference (`vault://secret/mcp/acme/github#token`,
// `aws-sm://prod/github#token`, `op://Infra/GitHub/token`, `exec:/usr/local/bin/get-token github`,
// `env:GITHUB_TOKEN`, `local:github`). References are resolved at execution time by a provider.
//
// Error messages are built from the reference, the provider name and an HTTP status only: nothing that
// came back from a secret store (value, token, response body) is ever put into a message or a cause,
// because errors end up in logs, audit rows and sometimes in responses.

import { isSafePlaceholderValue } from '../util/placeholder-value.ts';

export interface SecretValue {
  value: string;
  /** epoch ms when fetched */
  fetchedAt: number;
  /** epoch ms until which the value may be served from cache */
  expiresAt: number;
  /** the store's version of the secret when it has one (Vault KV version, AWS VersionId, ...) */
  version?: string;
}

export interface ParsedRef {
  /** `vault`, `aws-sm`, `op`, `exec`, `env`, `local`, or another registered scheme */
  scheme: string;
  /** everything between the scheme and `#` (for `op`: `<vault>/<item>`; for `exec`: the command line) */
  path: string;
  /** the part after `#` (for `op`: the last path segment); undefined when absent */
  field?: string;
  /** the reference exactly as given */
  raw: string;
}

export interface SecretProvider {
  readonly scheme: string;
  resolve(ref: ParsedRef, signal?: AbortSignal): Promise<SecretValue>;
  close?(): Promise<void>;
}

export type CredentialErrorCode = 'E_REF_INVALID' | 'E_SECRET_NOT_FOUND' | 'E_PROVIDER_UNAVAILABLE' | 'E_PROVIDER_AUTH';

export class CredentialError extends Error {
  readonly code: CredentialErrorCode;
  /** the reference (never a value) */
  readonly ref: string | undefined;
  /** the provider scheme, when known */
  readonly provider: string | undefined;
  /** the HTTP status that caused the error, when there was one */
  readonly status: number | undefined;
  override readonly name = 'CredentialError';
  constructor(
    code: CredentialErrorCode,
    what: string,
    opts: { ref?: string; provider?: string; status?: number } = {},
  ) {
    // `env:X` already names its provider: `env: env:X: ...` said it twice.
    const named = opts.ref !== undefined && opts.provider !== undefined && opts.ref.startsWith(`${opts.provider}:`);
    const parts = [named ? undefined : opts.provider, opts.ref !== undefined ? printable(opts.ref) : undefined].filter(
      (p) => p !== undefined,
    );
    const status = opts.status !== undefined ? ` (HTTP ${opts.status})` : '';
    super(`${parts.length ? `${parts.join(': ')}: ` : ''}${what}${status}`);
    this.code = code;
    this.ref = opts.ref;
    this.provider = opts.provider;
    this.status = opts.status;
  }
}

/** A reference as it may appear in a message: control and format characters escaped, length capped. */
function printable(text: string): string {
  const escaped = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
  return escaped.length > 300 ? `${escaped.slice(0, 300)}...` : escaped;
}

const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const SCHEME = /^([a-z][a-z0-9+.-]*):/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOCAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const MAX_REF_LENGTH = 2048;

/**
 * Parse a reference. Known schemes are validated strictly; an unknown scheme is accepted in the generic
 * `scheme://path#field` or `scheme:path` form so that providers can be added without touching this.
 */
export function parseReference(text: string): ParsedRef {
  const bad = (what: string, scheme?: string): CredentialError =>
    new CredentialError('E_REF_INVALID', what, { ref: text, provider: scheme });
  if (typeof text !== 'string' || text.length === 0) throw bad('empty credential reference');
  if (text.length > MAX_REF_LENGTH) throw bad(`reference longer than ${MAX_REF_LENGTH} characters`);
  if (CONTROL.test(text)) throw bad('reference contains control characters');
  const m = SCHEME.exec(text);
  if (!m) throw bad('not a credential reference (expected vault://, aws-sm://, op://, exec:, env: or local:)');
  const scheme = m[1];
  const rest = text.slice(m[0].length);
  switch (scheme) {
    case 'vault': {
      const { path, field } = hierarchical(rest, scheme, bad);
      if (!field) throw bad('a vault reference needs a #field (vault://<mount>/<path>#<field>)', scheme);
      if (path.split('/').length < 2)
        throw bad('a vault reference needs a mount and a path (vault://<mount>/<path>#<field>)', scheme);
      return { scheme, path, field, raw: text };
    }
    case 'aws-sm': {
      if (!rest.startsWith('//')) throw bad('expected aws-sm://<secret-id>[#<json-field>]', scheme);
      const [id, field, extra] = rest.slice(2).split('#');
      if (!id || extra !== undefined || field === '') throw bad('expected aws-sm://<secret-id>[#<json-field>]', scheme);
      if (/\s/.test(id)) throw bad('secret id contains whitespace', scheme);
      return { scheme, path: id, field, raw: text };
    }
    case 'op': {
      const { path, field } = hierarchical(rest, scheme, bad);
      if (field !== undefined) throw bad('expected op://<vault>/<item>/<field> (no #)', scheme);
      const segs = path.split('/');
      if (segs.length !== 3) throw bad('expected op://<vault>/<item>/<field>', scheme);
      // The names go into a Connect filter expression inside double quotes.
      if (segs.some((s) => s.includes('"') || s.includes('\\')))
        throw bad('quotes and backslashes are not allowed in op:// names', scheme);
      return { scheme, path: `${segs[0]}/${segs[1]}`, field: segs[2], raw: text };
    }
    case 'exec': {
      if (rest.trim() === '') throw bad('expected exec:<command> [args...]', scheme);
      return { scheme, path: rest.trim(), raw: text };
    }
    case 'env': {
      if (!ENV_NAME.test(rest)) throw bad('expected env:<NAME> (letters, digits, underscore)', scheme);
      return { scheme, path: rest, raw: text };
    }
    case 'local': {
      if (!LOCAL_NAME.test(rest)) throw bad('expected local:<name> (letters, digits, _ . @ -; at most 128)', scheme);
      return { scheme, path: rest, raw: text };
    }
    default: {
      if (rest.startsWith('//')) {
        const { path, field } = hierarchical(rest, scheme, bad);
        return { scheme, path, field, raw: text };
      }
      if (rest === '') throw bad('empty reference path', scheme);
      return { scheme, path: rest, raw: text };
    }
  }
}

/** `//a/b/c#field`: segments must be non-empty and may not be `.` or `..` (URL normalisation would walk them). */
function hierarchical(
  rest: string,
  scheme: string,
  bad: (what: string, scheme?: string) => CredentialError,
): { path: string; field?: string } {
  if (!rest.startsWith('//')) throw bad(`expected ${scheme}://...`, scheme);
  const hash = rest.indexOf('#');
  const path = hash < 0 ? rest.slice(2) : rest.slice(2, hash);
  const field = hash < 0 ? undefined : rest.slice(hash + 1);
  if (field !== undefined && (field === '' || field.includes('#'))) throw bad('invalid #field', scheme);
  const segs = path.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..')) throw bad('empty, "." or ".." path segment', scheme);
  return { path, field };
}

export interface ExpansionContext {
  tenant?: string;
  environment?: string;
}

/**
 * Fill `{tenant}` and `{env}` in a reference. Pure; single pass (a value is never re-expanded).
 * Throws E_REF_INVALID for an unsafe value, a missing value, or an unknown placeholder.
 */
export function expandReference(ref: string, ctx: ExpansionContext): string {
  const values: Record<string, string | undefined> = { tenant: ctx.tenant, env: ctx.environment };
  return ref.replace(/\{([^{}]*)\}/g, (_whole, name: string) => {
    if (!Object.hasOwn(values, name))
      throw new CredentialError('E_REF_INVALID', `unknown placeholder {${printable(name)}}`, { ref });
    const value = values[name];
    if (value === undefined || value === '')
      throw new CredentialError('E_REF_INVALID', `no value for {${name}}`, { ref });
    if (!isSafePlaceholderValue(value)) {
      // The value itself is not echoed: it comes from a caller and may be hostile.
      throw new CredentialError(
        'E_REF_INVALID',
        `unsafe value for {${name}} (allowed: letters, digits, _ . @ + -, no "..")`,
        { ref },
      );
    }
    return value;
  });
}

// Shared HTTP plumbing for the HTTP secret providers (Vault, 1Password Connect).
//
// Every call has a timeout, refuses redirects (a redirect could send the token to another host), reads
// at most `maxBytes` of the body and maps failures to CredentialError without ever quoting the body.
import { CredentialError } from './types.ts';

export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_CACHE_TTL_MS = 60_000;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Parse a provider base URL: https, or plain http only for loopback hosts. Trailing slashes dropped. */
export function checkBaseUrl(url: string, provider: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CredentialError('E_PROVIDER_UNAVAILABLE', 'invalid provider address', { provider });
  }
  if (u.username || u.password)
    throw new CredentialError('E_PROVIDER_UNAVAILABLE', 'provider address must not carry credentials', { provider });
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
    throw new CredentialError(
      'E_PROVIDER_UNAVAILABLE',
      `provider address must use https (plain http only on loopback): ${u.origin}`,
      { provider },
    );
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export interface HttpCall {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
  provider: string;
  ref?: string;
}

export interface HttpAnswer {
  status: number;
  /** parsed JSON, or undefined for an empty or non-JSON body */
  body: unknown;
}

/** One JSON request. Network failures, timeouts, oversize bodies become E_PROVIDER_UNAVAILABLE. */
export async function requestJson(call: HttpCall): Promise<HttpAnswer> {
  const unavailable = (what: string, status?: number) =>
    new CredentialError('E_PROVIDER_UNAVAILABLE', what, { provider: call.provider, ref: call.ref, status });
  const timeout = AbortSignal.timeout(call.timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: call.method ?? 'GET',
      headers: {
        accept: 'application/json',
        ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...call.headers,
      },
      body: call.body !== undefined ? JSON.stringify(call.body) : undefined,
      redirect: 'manual',
      signal,
    });
  } catch (err) {
    if (timeout.aborted) throw unavailable(`no answer within ${call.timeoutMs} ms`);
    if (call.signal?.aborted) throw unavailable('aborted');
    throw unavailable(`unreachable${networkCode(err)}`);
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    throw unavailable('redirect refused', res.status);
  }
  let text: string;
  try {
    text = await readCapped(res, call.maxBytes);
  } catch (err) {
    if (err instanceof CredentialError)
      throw new CredentialError(err.code, err.message, { provider: call.provider, ref: call.ref, status: res.status });
    throw unavailable(
      timeout.aborted ? `no answer within ${call.timeoutMs} ms` : 'response body could not be read',
      res.status,
    );
  }
  let body: unknown;
  if (text.length) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.status, body };
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw new CredentialError('E_PROVIDER_UNAVAILABLE', `response larger than ${maxBytes} bytes`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await res.body.cancel().catch(() => {});
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', `response larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** ` (ECONNREFUSED)` from fetch's cause chain: a system error code, never message text. */
function networkCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return ` (${code})`;
    e = (e as { cause?: unknown }).cause;
  }
  return '';
}

/** The common status mapping: 401/403 auth, 404 not found, anything else unavailable. */
export function statusError(status: number, provider: string, ref?: string): CredentialError {
  if (status === 401 || status === 403)
    return new CredentialError('E_PROVIDER_AUTH', 'access denied', { provider, ref, status });
  if (status === 404) return new CredentialError('E_SECRET_NOT_FOUND', 'secret not found', { provider, ref, status });
  return new CredentialError('E_PROVIDER_UNAVAILABLE', 'unexpected answer', { provider, ref, status });
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A secret field as a string: strings as they are, other JSON values serialised. */
export function fieldToString(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

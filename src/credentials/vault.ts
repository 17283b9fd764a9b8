// HashiCorp Vault KV v2 provider: `vault://<mount>/<path>#<field>`.
//
// `vault://secret/mcp/acme/github#token` reads GET {address}/v1/secret/data/mcp/acme/github and returns
// `.data.data.token`. The first path segment is the mount (a mount with a `/` in its name is not
// supported). KV v2 reads carry no lease, so values are cached for the configured TTL.
//
// Auth: a static token, or AppRole / JWT login. A login token is renewed (renew-self) once less than
// `renewFraction` of its lease remains, lazily on the next use; if renewal fails, or the token was not
// renewable, or it already expired, the provider logs in again. A 403 on a read with a login token
// triggers one fresh login and one retry (the token may have been revoked server-side).
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import {
  DEFAULT_CACHE_TTL_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  checkBaseUrl,
  fieldToString,
  isObject,
  requestJson,
  statusError,
} from './http.ts';
import type { HttpAnswer } from './http.ts';

type VaultAuth =
  | { method: 'token'; token: string }
  | { method: 'approle'; roleId: string; secretId: string /** auth mount, default `approle` */; mount?: string }
  | {
      method: 'jwt';
      role: string /** the JWT, or a function returning a fresh one per login */;
      jwt: string | (() => string | Promise<string>) /** auth mount, default `jwt` */;
      mount?: string;
    };

export interface VaultProviderOptions {
  address: string;
  namespace?: string;
  auth: VaultAuth;
  /** how long a read value is served from cache (default 60 s) */
  cacheTtlMs?: number;
  /** per request (default 5 s) */
  timeoutMs?: number;
  /** response size cap (default 1 MiB) */
  maxBytes?: number;
  /** renew a login token once less than this fraction of its lease remains (default 1/3) */
  renewFraction?: number;
  now?: () => number;
}

interface TokenState {
  token: string;
  /** epoch ms; Infinity for a token without TTL */
  expiresAt: number;
  leaseMs: number;
  renewable: boolean;
}

const PROVIDER = 'vault';
// Never use a token in its last second: it could expire in flight.
const EXPIRY_SKEW_MS = 1_000;

export class VaultProvider implements SecretProvider {
  readonly scheme = 'vault';
  readonly #base: string;
  readonly #opts: VaultProviderOptions;
  readonly #now: () => number;
  #token: TokenState | undefined;
  /** one login or renewal at a time, shared by concurrent callers */
  #pending: Promise<TokenState> | undefined;

  constructor(opts: VaultProviderOptions) {
    this.#base = checkBaseUrl(opts.address, PROVIDER);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  async resolve(ref: ParsedRef, signal?: AbortSignal): Promise<SecretValue> {
    if (!ref.field)
      throw new CredentialError('E_REF_INVALID', 'a vault reference needs a #field', {
        ref: ref.raw,
        provider: PROVIDER,
      });
    const [mount, ...rest] = ref.path.split('/');
    const url = `${this.#base}/v1/${encodeURIComponent(mount)}/data/${rest.map(encodeURIComponent).join('/')}`;
    const read = async (token: string) => this.#call(url, 'GET', token, undefined, signal, ref.raw);

    let ans = await read(await this.#currentToken(signal));
    if (ans.status === 403 && this.#opts.auth.method !== 'token') {
      this.#token = undefined;
      ans = await read(await this.#currentToken(signal));
    }
    if (ans.status !== 200) throw statusError(ans.status, PROVIDER, ref.raw);
    const data = isObject(ans.body) && isObject(ans.body.data) ? ans.body.data : undefined;
    if (!data || !isObject(data.data))
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', 'not a KV v2 answer', {
        provider: PROVIDER,
        ref: ref.raw,
        status: ans.status,
      });
    if (!Object.hasOwn(data.data, ref.field) || data.data[ref.field] === null) {
      throw new CredentialError('E_SECRET_NOT_FOUND', 'field not found in secret', {
        provider: PROVIDER,
        ref: ref.raw,
      });
    }
    const now = this.#now();
    const version =
      isObject(data.metadata) && data.metadata.version !== undefined ? String(data.metadata.version) : undefined;
    return {
      value: fieldToString(data.data[ref.field]),
      fetchedAt: now,
      expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS),
      version,
    };
  }

  /** Forget the login token (the next use logs in again). */
  async close(): Promise<void> {
    this.#token = undefined;
  }

  /** A usable token: the static one, or a login token renewed or replaced as needed. */
  async #currentToken(signal?: AbortSignal): Promise<string> {
    const auth = this.#opts.auth;
    if (auth.method === 'token') return auth.token;
    const now = this.#now();
    const t = this.#token;
    if (t && t.expiresAt - EXPIRY_SKEW_MS > now) {
      const renewAt = t.expiresAt - t.leaseMs * (this.#opts.renewFraction ?? 1 / 3);
      if (now < renewAt) return t.token;
    }
    // Expired, near expiry, or none yet. Share the work with concurrent callers.
    this.#pending ??= this.#refresh(t, signal).finally(() => {
      this.#pending = undefined;
    });
    return (await this.#pending).token;
  }

  async #refresh(t: TokenState | undefined, signal?: AbortSignal): Promise<TokenState> {
    if (t?.renewable && t.expiresAt - EXPIRY_SKEW_MS > this.#now()) {
      try {
        const ans = await this.#call(`${this.#base}/v1/auth/token/renew-self`, 'POST', t.token, {}, signal);
        if (ans.status === 200) {
          const renewed = this.#tokenFrom(ans, t.token);
          // Vault caps renewals at the token's max TTL; a renewal that no longer extends the lease
          // would only loop, so log in again instead.
          if (renewed && renewed.expiresAt > t.expiresAt) {
            this.#token = renewed;
            return renewed;
          }
        }
      } catch {
        // fall through to a fresh login
      }
    }
    this.#token = undefined;
    const fresh = await this.#login(signal);
    this.#token = fresh;
    return fresh;
  }

  async #login(signal?: AbortSignal): Promise<TokenState> {
    const auth = this.#opts.auth;
    let path: string;
    let body: Record<string, string>;
    if (auth.method === 'approle') {
      path = `${encodeURIComponent(auth.mount ?? 'approle')}/login`;
      body = { role_id: auth.roleId, secret_id: auth.secretId };
    } else if (auth.method === 'jwt') {
      path = `${encodeURIComponent(auth.mount ?? 'jwt')}/login`;
      body = { role: auth.role, jwt: typeof auth.jwt === 'string' ? auth.jwt : await auth.jwt() };
    } else {
      throw new Error('unreachable');
    }
    const ans = await this.#call(`${this.#base}/v1/auth/${path}`, 'POST', undefined, body, signal);
    // Vault answers a wrong role or secret id with 400, a bad JWT with 400 or 403.
    if (ans.status === 400 || ans.status === 401 || ans.status === 403) {
      throw new CredentialError('E_PROVIDER_AUTH', `${auth.method} login refused`, {
        provider: PROVIDER,
        status: ans.status,
      });
    }
    const state = ans.status === 200 ? this.#tokenFrom(ans) : undefined;
    if (!state)
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', `${auth.method} login failed`, {
        provider: PROVIDER,
        status: ans.status,
      });
    return state;
  }

  /** `auth.client_token`, `lease_duration` (seconds), `renewable` from a login or renew answer. */
  #tokenFrom(ans: HttpAnswer, fallbackToken?: string): TokenState | undefined {
    const auth = isObject(ans.body) && isObject(ans.body.auth) ? ans.body.auth : undefined;
    const token = typeof auth?.client_token === 'string' && auth.client_token ? auth.client_token : fallbackToken;
    if (!auth || !token) return undefined;
    const lease = typeof auth.lease_duration === 'number' && auth.lease_duration > 0 ? auth.lease_duration * 1000 : 0;
    return {
      token,
      leaseMs: lease,
      expiresAt: lease ? this.#now() + lease : Infinity,
      renewable: auth.renewable === true,
    };
  }

  #call(
    url: string,
    method: string,
    token: string | undefined,
    body: unknown,
    signal: AbortSignal | undefined,
    ref?: string,
  ): Promise<HttpAnswer> {
    const headers: Record<string, string> = {};
    if (token) headers['x-vault-token'] = token;
    if (this.#opts.namespace) headers['x-vault-namespace'] = this.#opts.namespace;
    return requestJson({
      url,
      method,
      headers,
      body,
      signal,
      ref,
      provider: PROVIDER,
      timeoutMs: this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBytes: this.#opts.maxBytes ?? DEFAULT_MAX_BYTES,
    });
  }
}

// 1Password Connect provider: `op://<vault>/<item>/<field>`.
//
// Three GETs per resolution (the resolver's cache keeps that rare): the vault by name, the item by
// title, then the full item, whose field is picked by label, else by field id. A vault or item segment
// that matches nothing by name but looks like a Connect id (26 lowercase alphanumerics) is used as an id.
// Names cannot contain `"` or `\` (parseReference refuses them), so they cannot break out of the filter.
import { CredentialError } from './types.ts';
import type { ParsedRef, SecretProvider, SecretValue } from './types.ts';
import {
  DEFAULT_CACHE_TTL_MS,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  checkBaseUrl,
  isObject,
  requestJson,
  statusError,
} from './http.ts';

export interface OnePasswordOptions {
  /** the Connect server, e.g. https://op-connect.internal:8080 */
  host: string;
  /** Connect access token */
  token: string;
  cacheTtlMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
  now?: () => number;
}

const PROVIDER = 'op';
const CONNECT_ID = /^[a-z0-9]{26}$/;

export class OnePasswordProvider implements SecretProvider {
  readonly scheme = 'op';
  readonly #base: string;
  readonly #opts: OnePasswordOptions;
  readonly #now: () => number;

  constructor(opts: OnePasswordOptions) {
    this.#base = checkBaseUrl(opts.host, PROVIDER);
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  async resolve(ref: ParsedRef, signal?: AbortSignal): Promise<SecretValue> {
    const [vaultName, itemTitle, ...extra] = ref.path.split('/');
    if (!vaultName || !itemTitle || extra.length || !ref.field) {
      throw new CredentialError('E_REF_INVALID', 'expected op://<vault>/<item>/<field>', {
        provider: PROVIDER,
        ref: ref.raw,
      });
    }
    const vaultId = await this.#findId(
      `/v1/vaults?filter=${encodeURIComponent(`name eq "${vaultName}"`)}`,
      vaultName,
      'vault',
      ref.raw,
      signal,
    );
    const vaultPath = `/v1/vaults/${encodeURIComponent(vaultId)}`;
    const itemId = await this.#findId(
      `${vaultPath}/items?filter=${encodeURIComponent(`title eq "${itemTitle}"`)}`,
      itemTitle,
      'item',
      ref.raw,
      signal,
    );
    const item = await this.#get(`${vaultPath}/items/${encodeURIComponent(itemId)}`, ref.raw, signal);
    const fields = isObject(item) && Array.isArray(item.fields) ? item.fields.filter(isObject) : [];
    const field = fields.find((f) => f.label === ref.field) ?? fields.find((f) => f.id === ref.field);
    if (!field || typeof field.value !== 'string') {
      throw new CredentialError('E_SECRET_NOT_FOUND', 'field not found in item', { provider: PROVIDER, ref: ref.raw });
    }
    const now = this.#now();
    const version = isObject(item) && item.version !== undefined ? String(item.version) : undefined;
    return {
      value: field.value,
      fetchedAt: now,
      expiresAt: now + (this.#opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS),
      version,
    };
  }

  /** The id of the one vault or item a filter query finds. */
  async #findId(
    path: string,
    name: string,
    kind: 'vault' | 'item',
    ref: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const list = await this.#get(path, ref, signal);
    if (!Array.isArray(list))
      throw new CredentialError('E_PROVIDER_UNAVAILABLE', `unexpected ${kind} list`, { provider: PROVIDER, ref });
    const matches = list.filter((e): e is Record<string, unknown> => isObject(e) && typeof e.id === 'string');
    if (matches.length === 1) return matches[0].id as string;
    if (matches.length > 1)
      throw new CredentialError('E_SECRET_NOT_FOUND', `${kind} name is ambiguous (${matches.length} matches)`, {
        provider: PROVIDER,
        ref,
      });
    if (CONNECT_ID.test(name)) return name;
    throw new CredentialError('E_SECRET_NOT_FOUND', `${kind} not found`, { provider: PROVIDER, ref });
  }

  async #get(path: string, ref: string, signal?: AbortSignal): Promise<unknown> {
    const ans = await requestJson({
      url: `${this.#base}${path}`,
      headers: { authorization: `Bearer ${this.#opts.token}` },
      signal,
      ref,
      provider: PROVIDER,
      timeoutMs: this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxBytes: this.#opts.maxBytes ?? DEFAULT_MAX_BYTES,
    });
    if (ans.status !== 200) throw statusError(ans.status, PROVIDER, ref);
    return ans.body;
  }
}

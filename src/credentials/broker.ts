/**
 * The credential broker: turns a server's credential references into the secrets its upstream
 * connection needs, at call time, per (server, environment, tenant) — and nothing else ever sees them.
 * Secrets go into the upstream's environment (stdio) or headers (HTTP); the values are also handed to
 * the redaction of results, errors and audit records. Revocations (from the store, any process) are
 * followed every second: the cache is purged, connections holding a revoked secret are stopped, calls
 * that need it fail closed, and this gateway acknowledges, so `gatehouse credentials revoke` can
 * confirm the effect.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, ServerConfig } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { RevocationStore, Store } from '../storage/types.ts';
import { GatehouseError, quote } from '../protocol/errors.ts';
import { SecretResolver } from './resolver.ts';
import { VaultProvider } from './vault.ts';
import { AwsSecretsManagerProvider } from './aws.ts';
import { OnePasswordProvider } from './onepassword.ts';
import { ExecProvider } from './exec.ts';
import { EnvProvider } from './env.ts';
import { LocalProvider } from './local.ts';
import { keyFileReloader, keyId, LocalSecretStore, loadKey } from './local-store.ts';
import { CredentialError, expandReference } from './types.ts';
import type { SecretsKeys } from './key-watch.ts';
import { loadKeys } from './held-keys.ts';
import { type LocalSecrets, SharedSecretStore } from './shared-store.ts';
import type { UpstreamOAuth } from './upstream-oauth.ts';

export interface Materialized {
  /** The server config with its credentials filled in (env or headers). Never logged. */
  cfg: ServerConfig;
  /** The secret values (for redaction). */
  values: string[];
  /** References, as configured and as expanded (for revocation). */
  refs: string[];
  /** SHA-256 over the values: a change means the secret was rotated. */
  digest: string;
}

export const LOCAL_SECRETS_FILE = 'secrets.enc.json';
export const LOCAL_KEY_FILE = 'secrets.key';
const FOLLOW_MS = 1000;
/** How often a gateway does the store's housekeeping for gateways that are gone (at start, then at most this often). */
const HOUSEKEEPING_MS = 60_000;
/**
 * A gateway silent this long has stopped: its heartbeat and its acknowledgements of applied changes
 * are deleted (`forgetStale`). Far beyond what any reader counts as live (5 to 30 s).
 */
const FORGET_AFTER_MS = 3_600_000;

/**
 * Where `local:` secrets are kept: with PostgreSQL (what replicas share), in its database, read with
 * the keys held (`keys`); with SQLite, in the state directory's file (ADR 0016).
 */
export async function localSecrets(config: Config, store: Store, keys?: SecretsKeys): Promise<LocalSecrets> {
  const keyFile = join(config.gateway.stateDir, LOCAL_KEY_FILE);
  if (store.driver === 'postgres') return new SharedSecretStore(store.localSecrets, keys ?? (await loadKeys(keyFile)));
  // A key rotated by `gatehouse secrets rotate-key` is picked up at the next read, without a restart.
  const key = keys?.current ?? (await loadKey({ keyFile }));
  const fromFile = keyFileReloader(keyFile);
  // The file names the key it is under: any key held (GATEHOUSE_SECRETS_KEY_PREVIOUS too), else the key file's.
  const reload = async (wanted: string) => keys?.all.find((k) => keyId(k) === wanted) ?? fromFile(wanted);
  return new LocalSecretStore(join(config.gateway.stateDir, LOCAL_SECRETS_FILE), key, reload);
}

/** The providers a config names (local and env always; the managers when configured). */
export async function resolverFor(config: Config, store: Store, keys?: SecretsKeys): Promise<SecretResolver> {
  const ttl = config.secrets.cacheTtlSeconds * 1000;
  const s = config.secrets;
  const resolver = new SecretResolver();
  resolver.register(new LocalProvider({ store: await localSecrets(config, store, keys), cacheTtlMs: ttl }));
  resolver.register(new EnvProvider({ cacheTtlMs: ttl }));
  resolver.register(new ExecProvider({ cacheTtlMs: ttl, timeoutMs: s.exec?.timeoutMs }));
  if (s.vault) {
    const a = s.vault.auth;
    const auth =
      a.method === 'jwt'
        ? {
            method: 'jwt' as const,
            role: a.role,
            mount: a.mount,
            jwt: async () => (await readFile(a.jwtFile, 'utf8')).trim(),
          }
        : a;
    resolver.register(
      new VaultProvider({ address: s.vault.address, namespace: s.vault.namespace, auth, cacheTtlMs: ttl }),
    );
  }
  if (s.aws) {
    const credentials =
      s.aws.accessKeyId && s.aws.secretAccessKey
        ? { accessKeyId: s.aws.accessKeyId, secretAccessKey: s.aws.secretAccessKey }
        : undefined;
    resolver.register(
      new AwsSecretsManagerProvider({ region: s.aws.region, endpoint: s.aws.endpoint, credentials, cacheTtlMs: ttl }),
    );
  }
  if (s.onepassword)
    resolver.register(
      new OnePasswordProvider({ host: s.onepassword.host, token: s.onepassword.token, cacheTtlMs: ttl }),
    );
  return resolver;
}

/** Whether the server's connections carry brokered credentials (references or upstream OAuth). */
export function brokered(cfg: ServerConfig): boolean {
  return Boolean(cfg.credentials || (cfg.transport !== 'stdio' && cfg.oauth));
}

/** Whose connection the catalogue lists a server from (its tools, prompts, resources and templates). */
export function discoveryTenant(cfg: ServerConfig | undefined): string {
  return cfg?.credentials?.discoveryTenant ?? 'default';
}

/**
 * Whether the server's connections can see different data for different tenants (or users): a
 * credential reference names `{tenant}`, or each tenant (or user) authorizes the upstream itself.
 * Such a server's listed resources are data of the connection's owner, never shown to another.
 */
/** A server's credential references as configured: its env's and its headers'. */
export function credentialRefs(cfg: ServerConfig): string[] {
  const c = cfg.credentials;
  return [
    ...Object.values(c?.env ?? {}),
    ...Object.values(c?.headers ?? {}).map((h) => (typeof h === 'string' ? h : h.ref)),
  ];
}

export function variesByOwner(cfg: ServerConfig): boolean {
  if (cfg.transport !== 'stdio' && cfg.oauth) return true;
  const c = cfg.credentials;
  if (!c) return false;
  // Asked on every call (src/pipeline/own-definitions.ts); a loaded config is never changed in place.
  let varies = varying.get(cfg);
  if (varies === undefined) {
    varies = credentialRefs(cfg).some((r) => r.includes('{tenant}'));
    varying.set(cfg, varies);
  }
  return varies;
}
const varying = new WeakMap<ServerConfig, boolean>();

/**
 * Whose connection a call uses: its authorization's owner (ownerOf), or `tenant/subject` when the
 * server keeps a connection per user (`connections: per-user`). No subject: the tenant's (discovery).
 */
export function connectionOwner(cfg: ServerConfig, tenant: string, subject?: string): string {
  return cfg.connections === 'per-user' && subject ? `${tenant}/${subject}` : ownerOf(cfg, tenant, subject);
}

/** Whose upstream authorization a call uses: the tenant, or `tenant/subject` for per-user OAuth (no subject: the tenant's, for discovery). */
export function ownerOf(cfg: ServerConfig, tenant: string, subject?: string): string {
  return cfg.transport !== 'stdio' && (cfg.oauth?.per === 'user' || cfg.oauth?.tokenExchange) && subject
    ? `${tenant}/${subject}`
    : tenant;
}

export class CredentialBroker {
  /** What this gateway heartbeats as (its audit stream's name, so a stream's writer is known to be live). */
  readonly instance: string;
  readonly #resolver: SecretResolver;
  readonly #store: RevocationStore;
  readonly #log: Logger;
  readonly #started = Date.now();
  /** Revoked references, with the time of the revocation this gateway applied (a new one is applied again). */
  #revoked = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #housekept = 0;
  /** Upstream OAuth (tokens per server and tenant), when the gateway has a secrets key. */
  oauth: UpstreamOAuth | undefined;
  /**
   * Called after each heartbeat the store took, with when it was sent and when it was taken
   * (performance.now()): how long this gateway may have looked stopped to the others (src/audit/liveness.ts).
   */
  onHeartbeat: (sentAt: number, takenAt: number) => void = () => {};
  /** Called with each newly revoked reference (the pool stops what holds it). */
  onRevoked: (ref: string) => Promise<void> = async () => {};

  constructor(resolver: SecretResolver, store: RevocationStore, log: Logger, instance = `gw-${randomUUID()}`) {
    this.instance = instance;
    this.#resolver = resolver;
    this.#store = store;
    this.#log = log;
  }

  async start(): Promise<void> {
    await this.follow();
    this.#timer = setInterval(
      () =>
        void this.follow().catch((err: Error) =>
          this.#log.warn({ err: err.message }, 'credentials: following revocations failed'),
        ),
      FOLLOW_MS,
    );
    this.#timer.unref();
  }

  /**
   * Heartbeat, and apply (then acknowledge) revocations made anywhere; then, at most once a
   * HOUSEKEEPING_MS, forget the gateways gone for FORGET_AFTER_MS (killed processes never `forget`).
   */
  async follow(): Promise<void> {
    const now = Date.now();
    const issued = performance.now();
    // The store's clock, not this process's: replicas whose clocks disagree still agree on who is live.
    await this.#store.heartbeat(this.instance, this.#started);
    this.onHeartbeat(issued, performance.now());
    const list = await this.#store.list();
    const refs = new Set(list.map((r) => r.ref));
    // A reference revoked again (its acknowledgements were reset) is purged and acknowledged again.
    for (const { ref, revokedAt } of list) {
      if (this.#revoked.get(ref) === revokedAt) continue;
      this.#revoked.set(ref, revokedAt);
      this.#resolver.purge((k) => k === ref || matchesTemplate(ref, k));
      await this.onRevoked(ref);
      this.#log.warn({ ref }, 'credential revoked: purged, and connections holding it stopped');
      await this.#store.ack(ref, this.instance, Date.now());
    }
    for (const ref of this.#revoked.keys()) if (!refs.has(ref)) this.#revoked.delete(ref); // restored
    if (now - this.#housekept >= HOUSEKEEPING_MS) {
      this.#housekept = now;
      await this.#store
        .forgetStale(FORGET_AFTER_MS)
        .catch((err: Error) => this.#log.warn({ err: err.message }, 'credentials: forgetting stopped gateways failed'));
    }
  }

  isRevoked(refs: readonly string[]): boolean {
    return refs.some((r) => this.#revoked.has(r));
  }

  /** The server's config with its secrets for this tenant; fails closed with a clear error. */
  async materialize(cfg: ServerConfig, tenant: string, subject?: string, subjectToken?: string): Promise<Materialized> {
    const c = cfg.credentials ?? {};
    const context = { tenant, environment: cfg.environment ?? 'default' };
    const refs: string[] = [];
    const values: string[] = [];
    const one = async (ref: string): Promise<string> => {
      let expanded: string;
      try {
        expanded = expandReference(ref, context);
      } catch {
        throw new GatehouseError(
          'E_CREDENTIAL_UNAVAILABLE',
          `the credentials of server ${quote(cfg.name)} cannot be used for tenant ${quote(tenant)}`,
        );
      }
      refs.push(ref, expanded);
      if (this.#revoked.has(ref) || this.#revoked.has(expanded))
        throw new GatehouseError(
          'E_CREDENTIAL_UNAVAILABLE',
          `a credential of server ${quote(cfg.name)} is revoked: calls that need it are refused`,
        );
      try {
        const v = (await this.#resolver.resolve(expanded)).value;
        values.push(v);
        return v;
      } catch (err) {
        const why = err instanceof CredentialError ? err.code : 'E_PROVIDER_UNAVAILABLE';
        this.#log.error(
          { server: cfg.name, ref: expanded, code: why, err: err instanceof CredentialError ? err.message : undefined },
          'credentials: resolution failed',
        );
        throw new GatehouseError(
          'E_CREDENTIAL_UNAVAILABLE',
          `the credentials of server ${quote(cfg.name)} are unavailable (${why.toLowerCase().replace(/^e_/, '').replaceAll('_', ' ')})`,
        );
      }
    };
    let out: ServerConfig;
    if (cfg.transport === 'stdio') {
      const env: Record<string, string> = { ...(cfg.env ?? {}) };
      for (const [k, ref] of Object.entries(c.env ?? {})) env[k] = await one(ref);
      out = { ...cfg, env };
    } else {
      const headers: Record<string, string> = { ...(cfg.headers ?? {}) };
      for (const [k, h] of Object.entries(c.headers ?? {}))
        headers[k] = `${typeof h === 'string' ? '' : (h.prefix ?? '')}${await one(typeof h === 'string' ? h : h.ref)}`;
      if (cfg.oauth) {
        const ref = `oauth:${cfg.name}`;
        const owner = ownerOf(cfg, tenant, subject);
        refs.push(ref, `${ref}:${tenant}`, `${ref}:${owner}`);
        if (this.#revoked.has(ref) || this.#revoked.has(`${ref}:${tenant}`) || this.#revoked.has(`${ref}:${owner}`))
          throw new GatehouseError(
            'E_CREDENTIAL_UNAVAILABLE',
            `the authorization of server ${quote(cfg.name)} is revoked: calls that need it are refused`,
          );
        if (!this.oauth)
          throw new GatehouseError(
            'E_CREDENTIAL_UNAVAILABLE',
            `server ${quote(cfg.name)} needs upstream oauth, which this gateway cannot use`,
          );
        const token =
          cfg.oauth.tokenExchange && subjectToken
            ? await this.oauth.exchange(cfg, subjectToken)
            : await this.oauth.accessToken(cfg, owner);
        values.push(token);
        headers.authorization = `Bearer ${token}`;
      }
      out = { ...cfg, headers };
    }
    const digest = createHash('sha256').update(values.join('\u0000')).digest('hex');
    return { cfg: out, values, refs: [...new Set(refs)], digest };
  }

  /**
   * The secret values a server's configured references name for `tenant`, resolved without connecting
   * (revoked ones too: a revoked secret is still one): what the scrubber must know before any
   * connection of this gateway holds them. Upstream OAuth tokens are per owner and not looked for.
   * References that do not resolve are left out, quietly.
   */
  async valuesFor(cfg: ServerConfig, tenant: string): Promise<string[]> {
    const c = cfg.credentials ?? {};
    const refs =
      cfg.transport === 'stdio'
        ? Object.values(c.env ?? {})
        : Object.values(c.headers ?? {}).map((h) => (typeof h === 'string' ? h : h.ref));
    const context = { tenant, environment: cfg.environment ?? 'default' };
    const values: string[] = [];
    for (const ref of refs) {
      try {
        values.push((await this.#resolver.resolve(expandReference(ref, context))).value);
      } catch {
        // not this tenant's, or not there: nothing to look for
      }
    }
    return values;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#store.forget(this.instance).catch(() => {});
  }
}

/** A revocation of a configured reference (with `{tenant}`) covers each of its expansions. */
/**
 * The servers of `servers` whose credentials a revocation of `ref` reaches: a reference as configured
 * or expanded for one tenant or environment, or `oauth:<server>[:<tenant or owner>]`.
 */
export function serversUsing(servers: readonly ServerConfig[], ref: string): string[] {
  return servers
    .filter((cfg) => {
      const oauth = cfg.transport !== 'stdio' && cfg.oauth;
      if (oauth && (ref === `oauth:${cfg.name}` || ref.startsWith(`oauth:${cfg.name}:`))) return true;
      const env = cfg.environment ?? 'default';
      return credentialRefs(cfg).some((r) => r === ref || expansionOf(r, env).test(ref));
    })
    .map((cfg) => cfg.name);
}

/**
 * What a configured reference expands to for one tenant: `{env}` is the server's environment, and
 * `{tenant}` a tenant name (the characters expansion allows, `SAFE_VALUE` in types.ts). So a typo of
 * the template itself (`{tenat}`) or of the environment expands to nothing configured.
 */
function expansionOf(template: string, env: string): RegExp {
  const literal = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const part = (p: string) => {
    if (p === '{tenant}') return '[\\p{L}\\p{N}_.@+-]{1,128}';
    return literal(p === '{env}' ? env : p);
  };
  return new RegExp(
    `^${template
      .split(/(\{tenant\}|\{env\})/)
      .map(part)
      .join('')}$`,
    'u',
  );
}

function matchesTemplate(template: string, expanded: string): boolean {
  if (!template.includes('{')) return false;
  const re = new RegExp(
    `^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{(tenant|env)\\?\}/g, '[^/#]+')}$`,
  );
  return re.test(expanded);
}

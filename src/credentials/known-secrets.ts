/**
 * The secret values this gateway must recognise before any connection of its own holds them. A
 * caller may send another tenant's injected secret in its arguments (learned elsewhere, leaked); the
 * outbound check and the audit trail's redaction know only the values the scrubber was told, and a
 * connection tells it only what it resolved, on this replica, while it lives. So every credentialed
 * server's references are resolved ahead for every tenant the gateway knows of: the tenants its
 * identity providers speak for, the default tenant, the servers' discovery tenants and the tenants of
 * the API keys in the store. At start (bounded, so a slow secrets manager does not hold the start),
 * after a config reload and every ten minutes (rotated secrets); a tenant that appears in between (a
 * new API key, on this replica or another) within five seconds, for the price of one read of the
 * keys. The pool remembers what it learned (credentials/upstreams.ts). Upstream OAuth tokens, stored
 * per server and owner (a tenant, or a user of one), are read from the store with them: all of them at
 * a full round, those authorized or refreshed since (on any replica) every five seconds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApiKeyStore } from '../storage/types.ts';
import type { CredentialedUpstreams } from './upstreams.ts';

const EVERY_MS = 10 * 60_000;
/** How often the tenants are read again, to learn only the new ones. */
const NEW_TENANTS_MS = 5_000;
/** How long a start waits for what it learns before it goes on (the rest is learned meanwhile). */
const START_WAIT_MS = 2_000;
/** How long a request that needs them waits for the first round, past the start's wait, before it is refused. */
const CALL_WAIT_MS = 10_000;

/** The tenants this gateway knows of, from its config and its API keys. */
async function knownTenants(config: Config, apiKeys: ApiKeyStore): Promise<string[]> {
  const tenants = new Set<string>(['default']);
  if (config.identity?.defaultTenant) tenants.add(config.identity.defaultTenant);
  for (const i of config.identity?.issuers ?? []) {
    if (i.tenant) tenants.add(i.tenant);
    for (const t of i.tenants ?? []) tenants.add(t);
  }
  for (const s of config.servers) if (s.credentials?.discoveryTenant) tenants.add(s.credentials.discoveryTenant);
  for (const k of await apiKeys.list()) if (k.revokedAt === null) tenants.add(k.tenant);
  return [...tenants];
}

/** The upstream OAuth tokens in the store, leaving out the rows `seen` holds unchanged (credentials/upstream-oauth.ts). */
export type StoredTokens = (seen: Map<string, number>) => Promise<string[]>;

export class SecretLearner {
  readonly #pool: CredentialedUpstreams;
  readonly #apiKeys: ApiKeyStore;
  readonly #config: () => Config;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #newTenants: NodeJS.Timeout | undefined;
  /** The tenants learned at the last full round (new ones are learned alone in between). */
  #learned = new Set<string>();
  #running = false;
  /** The stored upstream OAuth tokens (those `seen` holds unchanged left out), when the gateway has any. */
  readonly #tokens: StoredTokens | undefined;
  /** The token rows read, with their update times: a later round reads only what changed. */
  #tokensSeen = new Map<string, number>();

  constructor(
    pool: CredentialedUpstreams,
    apiKeys: ApiKeyStore,
    config: () => Config,
    log: Logger,
    tokens?: StoredTokens,
  ) {
    this.#pool = pool;
    this.#apiKeys = apiKeys;
    this.#config = config;
    this.#log = log;
    this.#tokens = tokens;
  }

  /** Learn now, every known tenant (`onlyNew`: those not learned yet); never throws (a failure is logged, what was known stays known). */
  async learn(onlyNew = false): Promise<void> {
    if (onlyNew && this.#running) return; // a round is running: it reads the tenants itself
    this.#running = true;
    try {
      const config = this.#config();
      const tenants = await knownTenants(config, this.#apiKeys);
      const todo = onlyNew ? tenants.filter((t) => !this.#learned.has(t)) : tenants;
      if (todo.length) await this.#pool.learn(config.servers, todo);
      for (const t of todo) this.#learned.add(t);
      if (!onlyNew) this.#tokensSeen = new Map(); // a full round reads every token again
      if (this.#tokens) this.#pool.know(await this.#tokens(this.#tokensSeen));
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'credentials: the secrets to look for were not all learned');
    } finally {
      this.#running = false;
    }
  }

  /** The first round, until it is over (with or without failure: what could not be learned is logged). */
  #first: Promise<void> | undefined;
  #firstOver = false;

  /**
   * Whether the first round is over: true, or a promise of whether it was within CALL_WAIT_MS. What
   * goes upstream is checked against every tenant's secrets (pipeline inspect): before they are
   * learned, a request waits for them, and is refused rather than sent unchecked (a start slower
   * than START_WAIT_MS let another tenant's secret through: seen under load).
   */
  learned(): true | Promise<boolean> {
    if (this.#firstOver || !this.#first) return true;
    return Promise.race([this.#first.then(() => true), sleep(CALL_WAIT_MS).then(() => this.#firstOver)]);
  }

  /** Learn (waiting at most START_WAIT_MS), then new tenants every five seconds and all every ten minutes. */
  async start(): Promise<void> {
    this.#first = this.learn().finally(() => {
      this.#firstOver = true;
    });
    await Promise.race([this.#first, sleep(START_WAIT_MS)]);
    this.#timer = setInterval(() => void this.learn(), EVERY_MS);
    this.#timer.unref();
    this.#newTenants = setInterval(() => void this.learn(true), NEW_TENANTS_MS);
    this.#newTenants.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#newTenants);
  }
}

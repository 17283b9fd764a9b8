/**
 * Section 2 of the readiness checklist, identity and credentials: callers with scoped OAuth
 * tokens, scopes per tool class, an admin role for the admin API, no literal credential in the
 * config, upstream credentials in a secrets manager per tenant, rotation and confirmed revocation,
 * and a secrets key that can be read.
 */
import type { Config, ServerConfig } from '../config/schema.ts';
import { urlCredential } from '../config/url-credentials.ts';
import { credentialRefs, LOCAL_KEY_FILE } from '../credentials/broker.ts';
import { PREVIOUS_KEY_ENV } from '../credentials/held-keys.ts';
import type { MissingSecret } from '../credentials/missing-secrets.ts';
import { literalSecret } from '../config/static-secrets.ts';
import { item, list, type CheckItem, type Facts } from './checklist.ts';
import type { ReadinessState } from './state.ts';

/**
 * Where a server config carries a long-lived secret in clear (headers, environment, or its URL: the
 * loader refuses such a URL, by the same test, so a config that loaded has none there).
 */
function staticSecrets(s: ServerConfig, i: number): string[] {
  const out: string[] = [];
  if (s.transport !== 'stdio' && urlCredential(s.url)) out.push(`${s.name} (servers[${i}].url)`);
  const pairs =
    s.transport === 'stdio'
      ? Object.entries(s.env ?? {}).map(([k, v]) => [`servers[${i}].env.${k}`, k, v])
      : Object.entries(s.headers ?? {}).map(([k, v]) => [`servers[${i}].headers.${k}`, k, v]);
  for (const [where, key, value] of pairs) if (literalSecret(key, value)) out.push(`${s.name} (${where})`);
  return out;
}

/** What may authenticate, in words: tokens of the configured issuers, API keys, or both. */
function credentialsOf(id: Config['identity']): string {
  const tokens = (id?.issuers.length ?? 0) > 0;
  const keys = id?.apiKeys === true;
  if (tokens && keys) return 'token of the issuers or API key';
  if (keys) return 'API key';
  return tokens ? 'token of the issuers' : 'caller';
}

export function identityItems(f: Facts): CheckItem[] {
  const { config, enabled } = f;
  const id = config.identity;
  const scoped = Boolean(
    id?.requiredScopes.mcp?.length &&
      (['READ', 'WRITE', 'DESTRUCTIVE'] as const).every((c) => id.requiredScopes[c]?.length),
  );
  const secrets = [
    ...enabled.flatMap((s) => staticSecrets(s, config.servers.indexOf(s))),
    ...(config.literalPasswords ?? []).map((p) => `\`${p}\` (a password in the URL)`),
    ...(config.literalKeys ?? []).map((p) => `\`${p}\` (a webhook signing key)`),
  ];
  return [
    tokenItem(config),
    item(
      '2.5',
      'tokens need scopes for MCP access and for each tool class',
      scoped ? 'pass' : 'fail',
      scoped
        ? 'scopes are required for every request and per class'
        : `no scopes are required (\`identity.requiredScopes\`): any ${credentialsOf(id)} may call any tool`,
      'set `identity.requiredScopes.mcp`, `.READ`, `.WRITE` and `.DESTRUCTIVE`',
    ),
    item(
      '2.6',
      'the admin API needs an admin role',
      id ? 'pass' : 'warn',
      id
        ? `roles ${id.adminRoles.join(', ')}; agent credentials get 403`
        : 'without identity the admin API answers any loopback caller',
      'configure `identity` (and `identity.adminRoles`)',
    ),
    item(
      '2.2',
      'no long-lived static token in the configuration',
      secrets.length ? 'fail' : 'pass',
      secrets.length ? `static credentials in ${list(secrets)}` : 'no server carries a literal credential',
      secretsFix(config),
    ),
    brokeredCredentialItem(enabled, f.state.missingSecrets),
    rotationItem(
      config,
      f.state.revocations,
      f.state.revocationsConfirmed,
      enabled.filter((s) => s.credentials || (s.transport !== 'stdio' && s.oauth)).map((s) => s.name),
    ),
    secretsKeyItem(config, f.state.secretsKey),
  ];
}

/** 2.2's fix: references for servers' credentials, the environment for the gateway's own URLs and keys. */
function secretsFix(config: Config): string {
  const fix = ['move each credential to a secrets manager and reference it (docs/credentials.md)'];
  if (config.literalPasswords?.length)
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
    fix.push('take a store or Redis URL from the environment (`postgresUrl: "${DATABASE_URL}"`)');
  if (config.literalKeys?.length)
    // biome-ignore lint/suspicious/noTemplateCurlyInString: `${VAR}` is the config's reference syntax, quoted for the reader
    fix.push('take a webhook signing key from the environment (`secret: "${WEBHOOK_SECRET}"`)');
  return fix.join('; ');
}

function tokenItem(config: Config): CheckItem {
  const title = 'callers authenticate with scoped OAuth tokens';
  const fix = 'configure `identity.issuers` (an OpenID provider) and `identity.requiredScopes`';
  const id = config.identity;
  if (id && (id.issuers.length || id.introspection)) {
    const sources = id.issuers.map((i) => i.issuer).concat(id.introspection ? ['introspection'] : []);
    return item('2.1', title, 'pass', `access tokens from ${list(sources)}, audience ${id.resource}`, fix);
  }
  if (id) return item('2.1', title, 'warn', 'only API keys are accepted: no OpenID issuer is configured', fix);
  const why =
    config.gateway.allowUnauthenticated === 'loopback'
      ? 'no identity provider is configured: unauthenticated callers are accepted from loopback'
      : 'no identity provider is configured: every caller is refused';
  return item('2.1', title, 'fail', why, fix);
}

/**
 * `missing`: `local:` and `env:` references that name nothing (state.ts). Such a server never starts
 * (its credentials are unavailable), which fails the item before any question of where secrets live.
 */
function brokeredCredentialItem(enabled: ServerConfig[], missing: MissingSecret[] = []): CheckItem {
  const title = 'upstream credentials live in a secrets manager, per environment and per tenant';
  const fix = 'reference secrets per tenant (`{tenant}`) in Vault, AWS Secrets Manager or 1Password';
  // check runs in its own environment, which a service manager may set apart from the gateway's
  const here = missing.some((m) => m.ref.startsWith('env:')) ? ' (env: as this command sees its environment)' : '';
  if (missing.length)
    return item(
      '2.3',
      title,
      'fail',
      `credentials unavailable, the server cannot start: ${list(missing.map((m) => `${m.server} (${m.ref}: ${m.why})`))}${here}`,
      [...new Set(missing.map((m) => m.fix))].join('; '),
    );
  const credentialed = enabled.filter((s) => s.credentials);
  const managed = (ref: string) => /^(vault|aws-sm|op):/.test(ref);
  const refsOf = credentialRefs;
  const unmanaged = credentialed.filter((s) => !refsOf(s).every(managed)).map((s) => s.name);
  const shared = credentialed.filter((s) => !refsOf(s).some((r) => r.includes('{tenant}'))).map((s) => s.name);
  if (!credentialed.length)
    return item('2.3', title, 'warn', 'no server has brokered credentials (`servers[].credentials`)', fix);
  if (unmanaged.length)
    return item('2.3', title, 'warn', `not in a secrets manager (local:, env: or exec:): ${list(unmanaged)}`, fix);
  if (shared.length) return item('2.3', title, 'warn', `one credential for every tenant: ${list(shared)}`, fix);
  return item(
    '2.3',
    title,
    'pass',
    `${credentialed.length} server(s) with per-tenant references in a secrets manager`,
    fix,
  );
}

/** `brokered`: the enabled servers whose credentials Gatehouse holds (what `credentials revoke` can name). */
function rotationItem(
  config: Config,
  rev: ReadinessState['revocations'],
  history: ReadinessState['revocationsConfirmed'],
  brokered: string[],
): CheckItem {
  const title = 'credentials can be rotated and revoked, with confirmation';
  const storeFix = 'check the store; a gateway that does not confirm is not following revocations (restart it)';
  if (!rev) return item('2.4', title, 'fail', 'the revocation records cannot be read from the store', storeFix);
  if (rev.unconfirmed.length)
    return item(
      '2.4',
      title,
      'fail',
      `revoked but not confirmed by every live gateway: ${list(rev.unconfirmed)}`,
      storeFix,
    );
  const rotation = `rotation is picked up within ${config.secrets.cacheTtlSeconds} s`;
  const slowRotation = config.secrets.cacheTtlSeconds > 3600;
  const rotationFix = 'lower `secrets.cacheTtlSeconds` (at most an hour)';
  // A drill done and lifted (revoke, confirmed, restore) shows confirmation as well as one in force:
  // the audit trail keeps it, as it keeps the modes ever set (6.5, 7.1, 7.2).
  const last = history?.at(-1);
  if (last && (!rev.refs.length || !rev.liveGateways))
    return item(
      '2.4',
      title,
      slowRotation ? 'warn' : 'pass',
      `${rotation}; last revocation confirmed: ${last.ref} by ${last.gateways} live gateway(s), revoked by ${last.by} at ${last.time}`,
      rotationFix,
    );
  // Confirmation is only shown by a revocation some live gateway confirmed: with none on record, or
  // no gateway running to confirm it, there is nothing to pass on.
  if (!rev.refs.length)
    return brokered.length
      ? item(
          '2.4',
          title,
          'warn',
          `${rotation}; confirmation not yet exercised: no revocation on record`,
          `drill it: \`gatehouse credentials revoke <ref>\` (a reference of ${list(brokered)}) with the gateways running, then check again`,
        )
      : item(
          '2.4',
          title,
          'warn',
          'no server uses brokered credentials: there is nothing Gatehouse can rotate or revoke (secrets would have to be rotated and revoked at each server)',
          'reference upstream secrets with `servers[].credentials`',
        );
  if (!rev.liveGateways)
    return item(
      '2.4',
      title,
      'warn',
      `${rotation}; ${rev.refs.length} revocation(s) in force, but no live gateway to confirm them`,
      'check again with the gateways running',
    );
  return item(
    '2.4',
    title,
    slowRotation ? 'warn' : 'pass',
    `${rotation}; ${rev.refs.length} revocation(s) in force, confirmed by all ${rev.liveGateways} live gateway(s)`,
    rotationFix,
  );
}

/**
 * The secrets key seals what the store keeps for upstreams (their OAuth tokens): one that cannot be
 * read stops the gateway at start, and replicas sharing a store need the same one. Each gateway
 * records its key's id (never the key) beside its heartbeat; the live gateways' ids are compared with
 * each other's and with the key this environment reads.
 */
function secretsKeyItem(config: Config, key: ReadinessState['secretsKey']): CheckItem {
  const title = 'the secrets key can be read, and every live gateway uses the same one';
  const fix = 'make one with `openssl rand -base64 32` and set it as GATEHOUSE_SECRETS_KEY (the same on every replica)';
  if (!key) return item('2.7', title, 'fail', 'the secrets key was not looked at', fix);
  if (key.problem) return item('2.7', title, 'fail', `${key.problem}: the gateway will not start`, fix);
  if (!key.gateways)
    return item('2.7', title, 'fail', "the live gateways' key ids cannot be read from the store", 'check the store');
  const own = ownKey(key.source);
  const byKey = new Map<string, string[]>();
  for (const g of key.gateways) if (g.keyId) byKey.set(g.keyId, [...(byKey.get(g.keyId) ?? []), g.instance]);
  const keys = [...byKey].map(([id, gws]) => `key ${id}: ${list(gws, 3)}`).join('; ');
  if (byKey.size > 1 && !eachOpensAll(key.gateways, [...byKey.keys()]))
    return item(
      '2.7',
      title,
      'fail',
      `the live gateways seal with ${byKey.size} different secrets keys (${keys}), and some hold only one of them: the \`local:\` secrets and upstream OAuth tokens one seals in the shared store the others cannot open, so their calls fail or their callers are asked to authorise again`,
      `${fix}; to roll a new key without downtime, give every replica the other key as ${PREVIOUS_KEY_ENV} (docs/operations.md)`,
    );
  if (byKey.size > 1)
    return item(
      '2.7',
      title,
      'warn',
      `a key roll is in progress: the live gateways seal with ${byKey.size} keys (${keys}), and each holds all of them (as GATEHOUSE_SECRETS_KEY or ${PREVIOUS_KEY_ENV}), so each opens what any seals`,
      `finish the rolling restart (every replica the new key as GATEHOUSE_SECRETS_KEY, the old one as ${PREVIOUS_KEY_ENV}), then run \`gatehouse secrets rotate-key\` with both set`,
    );
  if (key.rotating)
    return item(
      '2.7',
      title,
      'warn',
      `${own}; a \`gatehouse secrets rotate-key\` was interrupted: its new key is still beside the key file (${LOCAL_KEY_FILE}.next), and the sealed secrets and upstream authorizations are under one key or the other`,
      'run `gatehouse secrets rotate-key` to finish it (a gateway starting finishes it too); leave the .next file in place',
    );
  const [theirs] = [...byKey.keys()];
  if (theirs && key.keyId && theirs !== key.keyId)
    return item(
      '2.7',
      title,
      'warn',
      `the live gateways share one key (${theirs}), but not ${own} (${key.keyId}): this check runs with another key than theirs`,
      "run `gatehouse check` with the gateways' GATEHOUSE_SECRETS_KEY (or their state directory)",
    );
  const unrecorded = key.gateways.filter((g) => !g.keyId).map((g) => g.instance);
  if (unrecorded.length)
    return item(
      '2.7',
      title,
      'warn',
      `${own}; ${unrecorded.length} live gateway(s) recorded no key id (started by a version before it was recorded): ${list(unrecorded, 3)}`,
      'restart them so their keys can be compared',
    );
  if (key.gateways.length)
    return item('2.7', title, 'pass', `${own}; the same key as all ${key.gateways.length} live gateway(s)`, fix);
  // Replicas share a store only through PostgreSQL: with none running there is nothing to compare.
  if (config.storage.driver === 'postgres')
    return item(
      '2.7',
      title,
      'warn',
      `${own}; no live gateway to compare with (each replica reads its own GATEHOUSE_SECRETS_KEY, or its own key file, and opens the \`local:\` secrets of the shared database with it)`,
      'check again with the replicas running',
    );
  return item('2.7', title, 'pass', `${own}; no gateway running to compare with`, fix);
}

/** Every gateway holds (as its current or its previous key) every key any of them seals with. */
function eachOpensAll(
  gateways: Array<{ keyId: string | undefined; previousKeyId?: string }>,
  sealedWith: string[],
): boolean {
  return gateways.every((g) => sealedWith.every((id) => id === g.keyId || id === g.previousKeyId));
}

function ownKey(source: NonNullable<ReadinessState['secretsKey']>['source']): string {
  if (source === 'environment') return 'GATEHOUSE_SECRETS_KEY (set and valid)';
  if (source === 'file') return 'the key file in the state directory (GATEHOUSE_SECRETS_KEY is not set)';
  return 'a key file the gateway makes in the state directory at its first start';
}

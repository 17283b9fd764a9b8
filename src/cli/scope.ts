/**
 * Who runs a CLI command. Without a credential, whoever runs the CLI holds the store's credentials
 * and acts as a platform operator. With `--as <credential>` (or $GATEHOUSE_CREDENTIAL) the command
 * acts as that verified principal instead: an API key or an access token, checked exactly as the
 * gateway checks it (issuer bound to tenant, revocations, expiry). Then what it shows and may do
 * follows that principal's scope: a tenant admin sees its own tenant, an approver decides as itself.
 */
import { Option } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Store } from '../storage/types.ts';
import type { Principal } from '../identity/principal.ts';
import { Authenticator, type AdminScope } from '../identity/authenticator.ts';
import { PrincipalRevocations } from '../identity/revocations.ts';
import type { CliContext } from './context.ts';

export const asOption = () =>
  new Option(
    '--as <credential>',
    'act as this API key or access token (its tenant and roles); default: $GATEHOUSE_CREDENTIAL, else as the operator (every tenant)',
  );

/** The operator (no credential given: no principal), or a verified principal with the authenticator that verified it. */
export type Caller =
  | { principal?: undefined; identity?: undefined }
  | { principal: Principal; identity: Authenticator };

/** The verified caller for `--as`, or the operator; fails (exit 2) when the credential is refused. */
export async function caller(
  ctx: CliContext,
  config: Config,
  store: Store,
  credential: string | undefined,
): Promise<Caller> {
  const given = credential ?? process.env.GATEHOUSE_CREDENTIAL;
  if (!given) return {};
  if (!config.identity) ctx.fail('`--as` needs an `identity` section in the config', 2);
  const revocations = new PrincipalRevocations(store.principalRevocations);
  await revocations.refresh();
  const identity = new Authenticator(config.identity, config.gateway.allowUnauthenticated, store.apiKeys, {
    revocations,
  });
  try {
    return { principal: await identity.authenticateToken(given), identity };
  } catch (err) {
    return ctx.fail(`the credential was refused: ${(err as Error).message}`, 2);
  }
}

/** What the caller may administer: everything for the operator; fails when the credential is no admin. */
export function adminScopeOf(ctx: CliContext, c: Caller): AdminScope {
  if (!c.principal) return { platform: true };
  const scope = c.identity.adminScope(c.principal);
  if (!scope) ctx.fail('forbidden: this credential has no admin role', 2);
  return scope;
}

export function requirePlatform(ctx: CliContext, scope: AdminScope): void {
  if (!scope.platform)
    ctx.fail(
      `forbidden: this needs a platform admin; the credential's admin role covers tenant \`${scope.tenant}\` only`,
      2,
    );
}

/**
 * Which `local:` and `env:` references of the enabled servers name nothing, as the gateway would
 * resolve them at start (for each server's discovery tenant): a server whose secret is missing never
 * starts, and `gatehouse check` says so before anyone wonders why it is "never discovered". Pure: the
 * caller passes the names the local store holds and the environment (names only are compared; no
 * value is read or kept). Remote managers (vault, aws-sm, op) and `exec:` are not looked at: asking
 * them is not cheap, and the answer would be the gateway's anyway.
 */
import type { ServerConfig } from '../config/schema.ts';
import { credentialRefs, discoveryTenant } from './broker.ts';
import { missingEnv, missingLocal, type SecretFix, unmigratedLocal } from './secret-fixes.ts';
import { expandReference, parseReference } from './types.ts';

export interface MissingSecret extends SecretFix {
  server: string;
  /** the reference as expanded for the discovery tenant */
  ref: string;
}

export interface KnownSecrets {
  /** the local store's names; undefined when the store cannot be read (local: is then not judged) */
  local: ReadonlySet<string> | undefined;
  /** With PostgreSQL: the names left in the state directory's file, which is not read (ADR 0016). */
  inFile?: ReadonlySet<string>;
  env: NodeJS.ProcessEnv;
}

export function missingSecrets(servers: readonly ServerConfig[], known: KnownSecrets): MissingSecret[] {
  const out: MissingSecret[] = [];
  for (const s of servers) {
    const context = { tenant: discoveryTenant(s), environment: s.environment ?? 'default' };
    for (const raw of new Set(credentialRefs(s))) {
      const gap = gapOf(raw, context, known);
      if (gap) out.push({ server: s.name, ...gap });
    }
  }
  return out;
}

function gapOf(
  raw: string,
  context: { tenant: string; environment: string },
  known: KnownSecrets,
): (SecretFix & { ref: string }) | undefined {
  let ref: string;
  let path: string;
  let scheme: string;
  try {
    ref = expandReference(raw, context);
    ({ path, scheme } = parseReference(ref));
  } catch {
    return undefined; // an invalid reference is the config check's to report
  }
  if (scheme === 'local' && known.local && !known.local.has(path))
    return { ref, ...(known.inFile?.has(path) ? unmigratedLocal(path) : missingLocal(path)) };
  // An empty variable counts as missing, as the env provider has it.
  if (scheme === 'env' && !(Object.hasOwn(known.env, path) && known.env[path])) return { ref, ...missingEnv(path) };
  return undefined;
}

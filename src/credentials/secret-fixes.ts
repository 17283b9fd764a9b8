/**
 * What to say, and what to run, when a `local:` or `env:` reference names nothing: one wording for
 * the providers' errors (the log, `gatehouse inventory --refresh`) and for `gatehouse check`. Names
 * only, never a value.
 */

export interface SecretFix {
  /** what is missing, in words */
  why: string;
  /** what makes it present */
  fix: string;
}

export function missingLocal(name: string): SecretFix {
  return { why: `no such local secret \`${name}\``, fix: `gatehouse secrets set ${name}` };
}

/** With PostgreSQL: the name is in the state directory's file, which a gateway on PostgreSQL does not read (ADR 0016). */
export function unmigratedLocal(name: string): SecretFix {
  return {
    why: `local secret \`${name}\` is in the state directory's file, which a gateway on PostgreSQL does not read`,
    fix: 'gatehouse secrets migrate',
  };
}

export function missingEnv(name: string): SecretFix {
  return {
    why: `the environment variable \`${name}\` is not set`,
    fix: `set ${name} in the gateway's environment`,
  };
}

/** `why (fix: ...)`: one line for an error message. */
export function inWords(f: SecretFix): string {
  return `${f.why} (fix: ${f.fix})`;
}
